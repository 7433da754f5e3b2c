import type { RoomScope } from '../adapters/room-shapes.js';
import { SubscribedRooms } from './subscribed-rooms.js';

/**
 * One receiver of pushes: a WebSocket today, an SSE stream tomorrow. The rooms only
 * need to send it pre-serialized frames and remember what it subscribed to.
 */
export abstract class Subscriber {
  /** Rooms joined, `true` for explicit subscriptions; Map order doubles as the LRU of auto ones. */
  readonly rooms = new SubscribedRooms();
  /** Number of the last change sent, so a change matching several rooms is sent once. */
  lastChange = 0;
  // Fields set after construction are initialized here (undefined until used): a property
  // added later would give every socket a separate property array.
  /** The binding (stream) of its last subscription on a scoped binding, and its scope there (RoomHub.scopeOf). */
  scopeStream: string | undefined = undefined;
  roomScope: RoomScope | undefined = undefined;
  /** Per-binding scope matchers of this subscriber, compiled once (created on its first push of a scoped binding). */
  scopes: Map<string, (row: Record<string, unknown>) => boolean> | undefined = undefined;
  /** Serializes pushes whose permission check is asynchronous, keeping their order (created on first use). */
  pending: Promise<void> | undefined = undefined;
  /** Per room, the last seq sent by a replay (created on first replay). */
  replayed: Map<string, number> | undefined = undefined;
  /** How many pushes wait behind an asynchronous check. */
  waiting = 0;
  /** Live lists held (PROTOCOL.md section 9): they count toward `subscriptionsPerSocket` with the rooms. */
  liveLists = 0;
  /** Set once it has closed and left its rooms: a subscribe still in flight must not add it back. */
  gone = false;
  /** Its user's name for the subscription bounds, null when anonymous (set on its first subscription; memory-budget.ts). */
  budgetUser: string | null | undefined = undefined;
  /** Subscription bytes charged to it when anonymous. */
  ownBytes = 0;

  constructor(readonly user: unknown) {}

  /**
   * Sends one frame, already serialized. `bytes`, when given, is the same frame encoded
   * once for every member of a room, so a WebSocket need not encode it again.
   */
  abstract send(frame: string, bytes?: Buffer): void;

  /**
   * Called when the subscriber has joined a room (before any replay), with the room's seq
   * at that moment: every later push of the room has a higher seq. SSE streams use it to
   * tell the browser where to resume from before the first push arrives.
   */
  joined?(room: string, seq: number): void;
}
