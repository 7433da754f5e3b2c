import type { RoomKind } from '../adapters/room-shapes.js';
import type { EqualityKey } from '../query/index.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import type { PushBody, ReplayMemory } from './memory-budget.js';
import { ReplayBuffer } from './replay-buffer.js';
import type { Subscriber } from './subscriber.js';

/** A named set of subscribers with its own push numbering and replay buffer. */
export class Room {
  readonly members = new Set<Subscriber>();
  /** Pushes sent through this room so far; the last one's `seq`. */
  seq = 0;
  /** When the last member left (0 while it has members): the room is kept for replay. */
  emptySince = 0;
  /**
   * The last seq of an earlier room of the same name, deleted after its replay window (0 if
   * none). Numbering starts again from 1, so a `since` up to this value may come from the
   * earlier room: it is answered `recovered: false`, never replayed from the wrong history.
   */
  previousSeq = 0;
  /** Where the hub keeps it: the name, or `<name>#<scope hash>` for a room of a scoped binding (room-scopes.ts). */
  key: string;
  /** For a room of a scoped binding: the hash of its subscribers' scope. */
  scopeHash?: string;
  /** Made with the room's first push: most rooms of automatic subscriptions never get one. */
  private buffer: ReplayBuffer | undefined = undefined;
  /** For filter rooms: the equality its filter requires, by which the hub finds it (query/filter-index.ts). */
  keys?: EqualityKey;
  /** Estimated bytes of the room itself (name, filter), for the subscription bounds. */
  cost = 0;

  constructor(
    readonly name: string,
    readonly kind: RoomKind,
    private readonly replayBounds: { size: number; maxAge: number; bytes?: number; memory?: ReplayMemory },
    readonly binding?: BindingDefinition,
    /** For filter rooms: whether a row (all columns) is in the filter's set. */
    readonly matches?: (row: Record<string, unknown>) => boolean,
  ) {
    this.key = name;
  }

  /** The pushes kept for replay (an empty buffer before the first one). */
  get replay(): ReplayBuffer {
    return this.buffer ?? NO_PUSHES;
  }

  /** Keeps a push for replay. */
  keep(push: { seq: number; at: number; body: PushBody }): void {
    const bounds = this.replayBounds;
    (this.buffer ??= new ReplayBuffer(bounds.size, bounds.maxAge, this.name, bounds.bytes, bounds.memory)).add(push);
  }
}

/** What a room without pushes answers for replay: nothing kept (never added to). */
const NO_PUSHES = new ReplayBuffer(0, 0);
