/**
 * The signatures of `POST /publish` accepted within their window, so that each is accepted
 * once (PROTOCOL.md section 7): a captured request sent again is refused as a replay. An
 * entry is kept only until its signature would be refused as too old anyway.
 */
export abstract class SignatureLedger {
  /** Records `key` until `expiresAt` (ms since the epoch); false when it is already recorded (a replay). */
  abstract claim(key: string, expiresAt: number): Promise<boolean>;
}

/** How often expired entries are swept, at most (ms). */
const SWEEP_EVERY = 5_000;

/** The ledger of one process: a map from key to expiry, swept as it is used. */
export class MemorySignatureLedger extends SignatureLedger {
  private readonly seen = new Map<string, number>();
  private nextSweep = 0;

  async claim(key: string, expiresAt: number, now = Date.now()): Promise<boolean> {
    if (now >= this.nextSweep) {
      this.nextSweep = now + SWEEP_EVERY;
      for (const [seen, until] of this.seen) if (until <= now) this.seen.delete(seen);
    }
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    this.seen.set(key, expiresAt);
    return true;
  }

  /** Entries held (for tests of the bound). */
  get size(): number {
    return this.seen.size;
  }
}
