/**
 * The rate of an ever-growing counter over a sliding window: samples of the counter are
 * taken every `every` ms and the oldest one inside the window is compared with the
 * current value. Before a full window has passed, the time since the first sample is used
 * (at least one second, so a burst right after start does not read as thousands per second).
 */
export class RateMeter {
  private readonly samples: Array<{ at: number; value: number }> = [];

  constructor(
    private readonly read: () => number,
    private readonly window = 10_000,
    now = Date.now(),
  ) {
    this.samples.push({ at: now, value: read() });
  }

  /** Records the counter; call it every `window / 10` ms or so. */
  sample(now = Date.now()): void {
    this.samples.push({ at: now, value: this.read() });
    // Keep one sample at or before the window's start, so a full window is measured.
    while (this.samples.length > 2 && this.samples[1].at <= now - this.window) this.samples.shift();
  }

  /** Events per second over the window. */
  rate(now = Date.now()): number {
    const oldest = this.samples[0];
    const seconds = Math.max(1, (now - oldest.at) / 1000);
    return Math.round(((this.read() - oldest.value) / seconds) * 100) / 100;
  }
}
