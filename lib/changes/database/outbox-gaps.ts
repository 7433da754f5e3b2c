/** Ids below the cursor not seen yet, and the snapshot horizon after which they can no longer appear. */
export interface Gap {
  from: number;
  to: number;
  /** pg_snapshot_xmax when the gap was seen: once the oldest running transaction is at or past it, every transaction that could hold these ids has ended. */
  horizon: bigint;
  /** When it was seen (ms). */
  since: number;
}

/** A gap older than this is given up: a transaction open that long keeps its changes from being pushed. */
export const GAP_MAX_AGE = 10 * 60_000;
/** At most this many gaps are tracked; the oldest are given up first. */
export const GAP_MAX = 1000;

/**
 * The outbox ids a PostgreSQL reader has moved past without seeing them, as ranges: read
 * again until their rows appear (`fill`) or no transaction can write them any more (`forget`).
 */
export class OutboxGaps {
  private gaps: Gap[] = [];

  constructor(private readonly limits: { maxAge: number; max: number } = { maxAge: GAP_MAX_AGE, max: GAP_MAX }) {}

  get ranges(): readonly Gap[] {
    return this.gaps;
  }

  clear(): void {
    this.gaps = [];
  }

  /** Ids `from`..`to` were missing from a read whose snapshot had `horizon` as its xmax. */
  add(from: number, to: number, horizon: bigint, now: number): void {
    if (from <= to) this.gaps.push({ from, to, horizon, since: now });
  }

  /** The row of `id` appeared: its gap shrinks around it. */
  fill(id: number): void {
    const index = this.gaps.findIndex((g) => g.from <= id && id <= g.to);
    if (index < 0) return;
    const gap = this.gaps[index];
    const parts: Gap[] = [];
    if (gap.from < id) parts.push({ ...gap, to: id - 1 });
    if (id < gap.to) parts.push({ ...gap, from: id + 1 });
    this.gaps.splice(index, 1, ...parts);
  }

  /**
   * After a read whose snapshot had `xmin` as its oldest running transaction: drops the gaps
   * no transaction can fill any more (silently), and those held too long or beyond the
   * count (returned: the number given up, for the caller to report).
   */
  forget(xmin: bigint, now: number): number {
    this.gaps = this.gaps.filter((g) => g.horizon > xmin);
    const kept = this.gaps.filter((g) => now - g.since <= this.limits.maxAge);
    let lost = this.gaps.length - kept.length;
    const over = Math.max(0, kept.length - this.limits.max);
    if (over) kept.splice(0, over);
    lost += over;
    this.gaps = kept;
    return lost;
  }
}
