import { Injectable } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { AccessPolicy } from '../auth/access-policy.js';
import { FrameCodec } from '../protocol/frame-codec.js';
import { RoomHub } from '../rooms/room-hub.js';
import { WsTransport } from '../transports/ws/ws-transport.js';

/** Server-initiated messages and a view of the rooms, for application code. */
@Injectable()
export class BindingsService {
  constructor(
    private readonly hub: RoomHub,
    private readonly codec: FrameCodec,
    private readonly ws: WsTransport,
    private readonly policy: AccessPolicy,
  ) {}

  /** Sends `{event, room, data}` to every socket in `room`, serialized once; answers how many sockets got it. */
  broadcast(room: string, event: string, data: unknown): number {
    return this.hub.broadcast(room, this.codec.message(event, data, room));
  }

  /** Sends `{event, data}` to one socket; false when it is not a bindings socket or is closed. */
  send(socket: WebSocket, event: string, data: unknown): boolean {
    const connection = this.ws.connections.get(socket);
    if (!connection) return false;
    connection.send(this.codec.message(event, data));
    return true;
  }

  /** Rooms with subscribers, and how many each has. */
  rooms(): Array<{ room: string; subscribers: number }> {
    return this.hub.occupied();
  }

  /** Identified users subscribed to `room` (anonymous sockets are not listed), each once. */
  presence(room: string): string[] {
    const users = new Set<string>();
    for (const member of this.hub.members(room)) {
      const name = this.policy.identify(member.user);
      if (name !== undefined) users.add(name);
    }
    return [...users];
  }
}
