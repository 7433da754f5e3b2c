import type { Room } from './room.js';

/**
 * One receiver of pushes: a WebSocket today, an SSE stream tomorrow. The rooms only
 * need to send it pre-serialized frames and remember what it subscribed to.
 */
export abstract class Subscriber {
  /** Rooms joined, `true` for explicit subscriptions; Map order doubles as the LRU of auto ones. */
  readonly rooms = new Map<Room, boolean>();
  /** Number of the last change sent, so a change matching several rooms is sent once. */
  lastChange = 0;
  /** Per-binding scope matchers of this subscriber, compiled once. */
  readonly scopes = new Map<string, (row: Record<string, unknown>) => boolean>();
  /** Serializes pushes whose permission check is asynchronous, keeping their order. */
  pending: Promise<void> = Promise.resolve();
  /** How many pushes wait behind an asynchronous check. */
  waiting = 0;

  constructor(readonly user: unknown) {}

  /** Sends one frame, already serialized. */
  abstract send(frame: string): void;
}
