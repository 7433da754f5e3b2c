import type { RoomScope } from '../adapters/room-shapes.js';
import { SubscribedRooms } from './subscribed-rooms.js';

/**
 * One receiver of pushes: a WebSocket today, an SSE stream tomorrow. The rooms only
 * need to send it pre-serialized frames and remember what it subscribed to.
 *
 * It is its own list of rooms (`rooms` is the subscriber itself): a separate holder would
 * cost every idle socket about 32 bytes more (an object header and a pointer to it).
 */
export abstract class Subscriber extends SubscribedRooms {
  /** Number of the last change sent, so a change matching several rooms is sent once. */
  lastChange = 0;
  // Fields set after construction are initialized here (undefined until used): a property
  // added later would give every socket a separate property array.
  /** The binding (stream) of its last subscription on a scoped binding, and its scope there (RoomHub.scopeOf). */
  scopeStream: string | undefined = undefined;
  roomScope: RoomScope | undefined = undefined;
  /** Per-binding scope matchers of this subscriber, compiled once, for the scoped bindings it has no shared scope of (created on first need). */
  scopes: Map<string, (row: Record<string, unknown>) => boolean> | undefined = undefined;
  /**
   * The pushes waiting behind an asynchronous permission check, in order; undefined when
   * none waits (a push then goes out at once).
   */
  pending: Promise<void> | undefined = undefined;
  /** Per room, the last seq sent by a replay (created on first replay). */
  replayed: Map<string, number> | undefined = undefined;
  /** Live lists held (PROTOCOL.md section 9): they count toward `subscriptionsPerSocket` with the rooms. */
  liveLists = 0;
  /** Set once it has closed and left its rooms: a subscribe still in flight must not add it back. */
  gone = false;
  /** Its user's name for the subscription bounds, null when anonymous (memory-budget.ts; asked on its first subscription unless given). */
  budgetUser: string | null | undefined;
  /** Subscription bytes charged to it when anonymous. */
  ownBytes = 0;

  /** `name`: what `identify` gave `user` (null when anonymous), when the transport has asked already. */
  constructor(
    readonly user: unknown,
    name?: string | null,
  ) {
    super();
    this.budgetUser = name;
  }

  /**
   * Its scope on `stream` when that is the binding of its last scoped subscription: the
   * compiled scope shared by every subscriber of that scope (RoomHub.scopeOf), which the
   * pushes check (AccessPolicy.mayReceive) instead of a copy compiled for each socket.
   */
  sharedScope(stream: string): ((row: Record<string, unknown>) => boolean) | undefined {
    return this.scopeStream === stream ? this.roomScope?.matches : undefined;
  }

  /** The rooms joined, `true` for explicit subscriptions, in the order of last use (the LRU of automatic ones). */
  get rooms(): SubscribedRooms {
    return this;
  }

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
