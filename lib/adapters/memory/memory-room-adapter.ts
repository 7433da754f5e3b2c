import type { EntityChange } from '../../rows/entity-change.js';
import { RoomAdapter } from '../room-adapter.js';

/** The default: one process, changes go straight to its rooms, which keep their own replay. */
export class MemoryRoomAdapter extends RoomAdapter {
  publish(change: EntityChange): void {
    this.host.publish(change);
  }
}
