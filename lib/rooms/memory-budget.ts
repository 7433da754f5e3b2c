import { BindingError } from '../protocol/binding-error.js';

/**
 * Accounting of the memory clients make the server keep (PROTOCOL.md section 6). Sizes are
 * estimates, cheap to compute (string lengths and value counts), never heap measurements;
 * they are meant to be within a small factor of what V8 really holds.
 */

/** Bytes of one JSON-like value on the heap, roughly: strings by length, every other value and member a fixed overhead. */
export function approximateSize(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return 16 + value.length;
    case 'object': {
      if (value === null) return 8;
      let size = 32;
      if (Array.isArray(value)) {
        for (const item of value) size += 8 + approximateSize(item);
      } else {
        for (const key of Object.keys(value)) size += 24 + key.length + approximateSize((value as Record<string, unknown>)[key]);
      }
      return size;
    }
    default:
      return 16;
  }
}

/** Whom a byte is charged to: the name `identify` gives the user, or, for an anonymous caller, its own socket. */
export type BudgetKey = unknown;

/** Bytes held per user and in total for one kind of structure, each under its bound. */
export class MemoryBudget {
  private readonly users = new Map<BudgetKey, number>();
  /** Bytes held by everyone. */
  used = 0;

  constructor(
    /** What is held, for error messages ("filter subscriptions"). */
    readonly what: string,
    readonly perUser: number,
    readonly total: number,
  ) {}

  /** Bytes held by `key`. */
  usedBy(key: BudgetKey): number {
    return this.users.get(key) ?? 0;
  }

  /** Whether `bytes` more fit under the bound of `key` (the total is checked separately, see `fitsTotal`). */
  fitsUser(key: BudgetKey, bytes: number): boolean {
    return this.usedBy(key) + bytes <= this.perUser;
  }

  fitsTotal(bytes: number): boolean {
    return this.used + bytes <= this.total;
  }

  /** Charges `bytes` to `key` when both bounds allow it; answers whether it did. */
  tryCharge(key: BudgetKey, bytes: number): boolean {
    if (!this.fitsUser(key, bytes) || !this.fitsTotal(bytes)) return false;
    this.add(key, bytes);
    return true;
  }

  /** As `tryCharge`, but refuses with `bad_request` (nothing charged). */
  charge(key: BudgetKey, bytes: number): void {
    if (!this.fitsUser(key, bytes)) throw this.refusal(`at most ${this.perUser} bytes per user`);
    if (!this.fitsTotal(bytes)) throw this.refusal(`at most ${this.total} bytes for all users`);
    this.add(key, bytes);
  }

  /**
   * Charges without checking (the caller checked): `bytes` to `key` (none when undefined),
   * `total` (default the same) to the total.
   */
  add(key: BudgetKey, bytes: number, total = bytes): void {
    if (key !== undefined && bytes !== 0) this.users.set(key, this.usedBy(key) + bytes);
    this.used += total;
  }

  /** Gives back what `add` charged; a user that holds nothing is forgotten. */
  release(key: BudgetKey, bytes: number, total = bytes): void {
    if (key !== undefined && bytes !== 0) {
      const left = this.usedBy(key) - bytes;
      if (left > 0) this.users.set(key, left);
      else this.users.delete(key);
    }
    this.used = Math.max(0, this.used - total);
  }

  refusal(bound: string): BindingError {
    return BindingError.badRequest(`The server keeps ${bound} of ${this.what}; release some first`);
  }
}

/** The part of a push that every room it went through shares: kept once, however many rooms keep it for replay. */
export interface PushBody {
  /** `{"event":"…"` of the frame. */
  head: string;
  /** The frame after `"seq":N`: change id, data and changed fields. */
  tail: string;
  /** Every column of the row, for the per-subscriber checks on replay. */
  row: Record<string, unknown> | undefined;
  /** Estimated bytes (computed on first use). */
  size?: number;
  /** Replay entries that keep it. */
  refs?: number;
}

/** One push kept by one room: a small head around the shared body. */
export interface KeptEntry {
  seq: number;
  at: number;
  body: PushBody;
  /** Set once the entry left its buffer, so the global queue skips it. */
  dropped?: boolean;
  owner?: { dropOldest(): void };
}

/** Bytes of a kept entry besides its body (object, seq, time, array slot, queue slot). */
export const ENTRY_BYTES = 96;

export function bodySize(body: PushBody): number {
  // The row is about as large as the serialized data in the tail.
  return (body.size ??= 64 + body.head.length + 2 * body.tail.length);
}

/**
 * The replay buffers of all rooms together, under one bound in bytes: each shared body is
 * counted once, and when the total is over the bound the oldest entries, of whichever
 * room, are dropped first (a later `since` into them answers `recovered: false`).
 */
export class ReplayMemory {
  used = 0;
  private queue: KeptEntry[] = [];
  private start = 0;
  private live = 0;

  constructor(readonly total: number) {}

  /** Counts an entry just added to a buffer; may drop the oldest entries of any buffer. */
  kept(entry: KeptEntry): void {
    const body = entry.body;
    if ((body.refs = (body.refs ?? 0) + 1) === 1) this.used += bodySize(body);
    this.used += ENTRY_BYTES;
    this.queue.push(entry);
    this.live++;
    while (this.used > this.total && this.start < this.queue.length) {
      const oldest = this.queue[this.start++];
      if (!oldest.dropped) oldest.owner!.dropOldest();
    }
    this.compact();
  }

  /** Counts an entry that left its buffer. */
  dropped(entry: KeptEntry): void {
    if (entry.dropped) return;
    entry.dropped = true;
    this.live--;
    const body = entry.body;
    if (--body.refs! === 0) this.used -= bodySize(body);
    this.used -= ENTRY_BYTES;
  }

  /** Forgets queue slots of entries already dropped, so the queue stays proportional to what is kept. */
  private compact(): void {
    if (this.start > 1024 && this.start * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.start);
      this.start = 0;
    }
    if (this.queue.length - this.start > 2 * this.live + 1024) {
      this.queue = this.queue.slice(this.start).filter((entry) => !entry.dropped);
      this.start = 0;
    }
  }
}

/** Bytes of one membership besides the room: set and map entries on both sides. */
export const MEMBER_BYTES = 128;
/** Bytes of a room besides its name and filter: the object, its member set, its replay buffer. */
export const ROOM_BYTES = 512;
/** Bytes of one value of a filter room's equality in the hub's index: a map entry and a set of rooms (189 measured for distinct values). */
export const INDEX_VALUE_BYTES = 192;

/** What the subscription accounting needs to know of a room. */
export interface AccountedRoom {
  readonly name: string;
  readonly members: ReadonlySet<unknown>;
  /** Estimated bytes of the room itself, charged to the total while it exists. */
  cost: number;
}

/**
 * What the subscription accounting keeps on each subscriber: fields rather than an entry per
 * socket in a WeakMap and a Map (about 80 bytes of hash tables per idle socket).
 */
export interface Accounted {
  /** The name `identify` gave its user, asked once; null when anonymous. */
  budgetUser?: string | null;
  /** Bytes charged to an anonymous subscriber (each one is its own user). */
  ownBytes?: number;
}

/**
 * Subscriptions: each membership charges its user the room's cost (so one user's filters are
 * bounded, whoever created the room); the total counts each room once plus its memberships.
 * Rooms without members, kept only for replay, are dropped oldest first when the total
 * needs the space, before any subscription is refused.
 */
export class SubscriptionMemory<S extends Accounted, R extends AccountedRoom> {
  /** Bytes per identified user and in total (an anonymous subscriber's own bytes are kept on it, see `Accounted`). */
  readonly budget: MemoryBudget;
  /** Rooms without members, in the order they became empty. */
  private readonly idle = new Set<R>();

  constructor(
    perUser: number,
    total: number,
    /** The user's name, or undefined for an anonymous one (charged per socket). */
    private readonly identify: (subscriber: S) => string | undefined,
  ) {
    this.budget = new MemoryBudget('subscriptions', perUser, total);
  }

  /** Estimated bytes of a room: its name twice (map key and room), its filter as sent, parsed and compiled, and its entries in the filter index. */
  roomCost(spec: { name: string; filter?: unknown; keys?: { values: readonly unknown[] } }): number {
    const indexed = (spec.keys?.values.length ?? 0) * INDEX_VALUE_BYTES;
    return ROOM_BYTES + 2 * spec.name.length + (spec.filter === undefined ? 0 : 3 * approximateSize(spec.filter)) + indexed;
  }

  /**
   * Whether `subscriber` may join the room `existing` (or a new room made from `spec`):
   * undefined when it may (idle rooms may have been dropped through `evict` to make space),
   * or the `bad_request` to answer.
   */
  admit(
    subscriber: S,
    spec: { name: string; filter?: unknown; keys?: { values: readonly unknown[] } },
    existing: R | undefined,
    evict: (room: R) => void,
  ): BindingError | undefined {
    const cost = existing?.cost ?? this.roomCost(spec);
    if (this.usedBy(subscriber) + cost + MEMBER_BYTES > this.budget.perUser) return this.budget.refusal(`at most ${this.budget.perUser} bytes per user`);
    const needed = (existing ? 0 : cost) + MEMBER_BYTES;
    if (this.budget.fitsTotal(needed)) return undefined;
    for (const room of this.idle) {
      if (this.budget.fitsTotal(needed)) break;
      if (room !== existing) evict(room);
    }
    return this.budget.fitsTotal(needed) ? undefined : this.budget.refusal(`at most ${this.budget.total} bytes for all users`);
  }

  created(room: R): void {
    this.budget.add(undefined, room.cost);
    this.idle.add(room); // no member yet
  }

  joined(subscriber: S, room: R): void {
    const user = this.user(subscriber);
    if (user === null) subscriber.ownBytes = (subscriber.ownBytes ?? 0) + room.cost + MEMBER_BYTES;
    this.budget.add(user ?? undefined, room.cost + MEMBER_BYTES, MEMBER_BYTES);
    if (room.members.size === 1) this.idle.delete(room); // its first member: it was idle
  }

  left(subscriber: S, room: R): void {
    const user = this.user(subscriber);
    if (user === null) subscriber.ownBytes = Math.max(0, (subscriber.ownBytes ?? 0) - room.cost - MEMBER_BYTES);
    this.budget.release(user ?? undefined, room.cost + MEMBER_BYTES, MEMBER_BYTES);
    // Its last member left: idle from now on (a room with members is never in `idle`).
    if (room.members.size === 0) this.idle.add(room);
  }

  deleted(room: R): void {
    this.budget.release(undefined, room.cost);
    this.idle.delete(room);
  }

  /** Bytes charged to the subscriber's user (to itself when anonymous). */
  usedBy(subscriber: S): number {
    const user = this.user(subscriber);
    return user === null ? (subscriber.ownBytes ?? 0) : this.budget.usedBy(user);
  }

  /** The subscriber's user name, asked of `identify` once; null when anonymous. */
  private user(subscriber: S): string | null {
    if (subscriber.budgetUser === undefined) subscriber.budgetUser = this.identify(subscriber) ?? null;
    return subscriber.budgetUser;
  }
}

/** Every bound on what clients make the server keep, in one place (see `limits` in the module options). */
export class MemoryBudgets<S extends Accounted, R extends AccountedRoom> {
  readonly subscriptions: SubscriptionMemory<S, R>;
  readonly replay: ReplayMemory;
  /** Presence states, charged per user by the channels. */
  readonly presence: MemoryBudget;
  /** Live lists (PROTOCOL.md section 9): each held page charges its user an estimate of its bytes; each kept page counts once in the total (lib/live). */
  readonly liveLists: MemoryBudget;

  constructor(
    limits: {
      subscriptionBytesPerUser: number;
      subscriptionBytesTotal: number;
      replayBytesTotal: number;
      presenceBytesPerUser: number;
      presenceBytesTotal: number;
      liveListBytesPerUser: number;
      liveListBytesTotal: number;
    },
    identify: (subscriber: S) => string | undefined,
  ) {
    this.subscriptions = new SubscriptionMemory(limits.subscriptionBytesPerUser, limits.subscriptionBytesTotal, identify);
    this.replay = new ReplayMemory(limits.replayBytesTotal);
    this.presence = new MemoryBudget('presence state', limits.presenceBytesPerUser, limits.presenceBytesTotal);
    this.liveLists = new MemoryBudget('live lists', limits.liveListBytesPerUser, limits.liveListBytesTotal);
  }
}
