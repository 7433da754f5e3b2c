import type { KeptPush } from '../adapters/room-shapes.js';
import { bodySize, ENTRY_BYTES, type KeptEntry, type PushBody, type ReplayMemory } from './memory-budget.js';

/** The frame of a push in one room: the shared head and tail around the room's name and seq. */
export const pushFrame = (head: string, room: string, seq: number, tail: string): string => `${head},"room":${JSON.stringify(room)},"seq":${seq}${tail}`;

/**
 * The last pushes of one room, bounded in count, age and bytes, so a client that reconnects
 * with `since` gets what it missed or learns that it must refetch. Entries share the body
 * of their push with the other rooms it went through; the frame is built on replay.
 */
export class ReplayBuffer {
  private kept: KeptEntry[] = [];
  /** Index of the oldest entry still kept (entries before it were dropped). */
  private start = 0;
  /** Estimated bytes of the entries kept, bodies counted in full. */
  bytes = 0;

  constructor(
    private readonly size: number,
    private readonly maxAge: number,
    private readonly room = '',
    /** Bytes this room may keep (default: no bound but the count). */
    private readonly maxBytes = Infinity,
    /** The bound on all rooms together, when there is one. */
    private readonly memory?: ReplayMemory,
  ) {}

  get length(): number {
    return this.kept.length - this.start;
  }

  add(push: { seq: number; at: number; body: PushBody }): void {
    const entry: KeptEntry = { seq: push.seq, at: push.at, body: push.body, owner: this };
    this.kept.push(entry);
    this.bytes += bodySize(entry.body) + ENTRY_BYTES;
    // Counted first, so that dropping it below (a push larger than the bound) gives back what it took.
    this.memory?.kept(entry);
    while (this.length > 0 && (this.length > this.size || this.bytes > this.maxBytes)) this.dropOldest();
  }

  /**
   * The pushes after `since`, oldest first, or undefined when some of them are gone
   * (too many, too old or too large) and the client must refetch instead.
   */
  after(since: number, current: number, now: number): KeptPush[] | undefined {
    if (since === current) return [];
    if (since > current || since < 0) return undefined;
    const oldest = now - this.maxAge;
    const live = this.kept.slice(this.start).filter((k) => k.at >= oldest);
    if (live.length === 0 || live[0].seq > since + 1) return undefined;
    return live
      .filter((k) => k.seq > since)
      .map((k) => ({ seq: k.seq, at: k.at, frame: pushFrame(k.body.head, this.room, k.seq, k.body.tail), row: k.body.row }));
  }

  /** Drops what is older than the window. */
  prune(now: number): void {
    const oldest = now - this.maxAge;
    while (this.length > 0 && this.kept[this.start].at < oldest) this.dropOldest();
  }

  /** Drops everything (the room is deleted). */
  clear(): void {
    while (this.length > 0) this.dropOldest();
  }

  /** Drops the oldest entry kept; called by this buffer's bounds and by the bound on all rooms. */
  dropOldest(): void {
    const entry = this.kept[this.start];
    this.kept[this.start++] = undefined as unknown as KeptEntry;
    this.bytes -= bodySize(entry.body) + ENTRY_BYTES;
    this.memory?.dropped(entry);
    entry.dropped = true;
    // Compact in batches so the array is not shifted on every drop.
    if (this.start > 64 && this.start * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.start);
      this.start = 0;
    }
  }
}
