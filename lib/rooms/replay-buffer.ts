/** One kept push: its frame, and the row it carried, for the per-subscriber checks on replay. */
export interface KeptPush {
  seq: number;
  at: number;
  frame: string;
  row: Record<string, unknown> | undefined;
}

/**
 * The last pushes of one room, bounded in count and age, so a client that reconnects
 * with `since` gets what it missed or learns that it must refetch.
 */
export class ReplayBuffer {
  private kept: KeptPush[] = [];

  constructor(
    private readonly size: number,
    private readonly maxAge: number,
  ) {}

  get length(): number {
    return Math.min(this.kept.length, this.size);
  }

  add(push: KeptPush): void {
    this.kept.push(push);
    // Trim in batches so the array is not shifted on every push.
    if (this.kept.length > this.size * 1.25 + 8) this.kept = this.kept.slice(this.kept.length - this.size);
  }

  /**
   * The pushes after `since`, oldest first, or undefined when some of them are gone
   * (too many or too old) and the client must refetch instead.
   */
  after(since: number, current: number, now: number): KeptPush[] | undefined {
    if (since === current) return [];
    if (since > current || since < 0) return undefined;
    const oldest = now - this.maxAge;
    const live = this.kept.slice(Math.max(0, this.kept.length - this.size)).filter((k) => k.at >= oldest);
    if (live.length === 0 || live[0].seq > since + 1) return undefined;
    return live.filter((k) => k.seq > since);
  }

  /** Drops what is older than the window. */
  prune(now: number): void {
    const oldest = now - this.maxAge;
    let i = 0;
    while (i < this.kept.length && this.kept[i].at < oldest) i++;
    if (i > 0) this.kept = this.kept.slice(i);
  }
}
