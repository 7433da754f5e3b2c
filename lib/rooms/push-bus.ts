import { Injectable } from '@nestjs/common';
import type { EntityChange } from '../rows/entity-change.js';
import { RoomHub } from './room-hub.js';

/**
 * Where committed changes go. An abstract class used as its own injection token: the
 * default delivers to this process's rooms; the Redis adapter to the rooms of every instance.
 */
export abstract class PushBus {
  abstract publish(change: EntityChange): void;
}

/** One process: changes go straight to the local rooms. */
@Injectable()
export class LocalPushBus extends PushBus {
  constructor(private readonly hub: RoomHub) {
    super();
  }

  publish(change: EntityChange): void {
    this.hub.publish(change);
  }
}
