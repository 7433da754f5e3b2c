import type { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { CURSOR_TABLE, OUTBOX_TABLE, type OutboxRow } from './outbox-names.js';
import { placeholder, records } from './outbox-query.js';
import type { OutboxSource } from './outbox-source.js';

/** One read holds at most this many rows, and this many bytes of states past its first row. */
const BATCH = 500;
const BATCH_BYTES = 4 * 1024 * 1024;

export interface OutboxReaderOptions {
  /** Milliseconds between reads besides wake-ups. */
  pollInterval: number;
  /**
   * Whether a push reaches every instance (a shared room adapter such as Redis). Then one
   * instance at a time holds the lease on the shared cursor and publishes each row once;
   * otherwise every instance reads every row for its own subscribers.
   */
  shared: boolean;
  /** Hands the rows over, in order; resolves once they are published. */
  deliver(rows: OutboxRow[]): Promise<void>;
}

/**
 * Reads the outbox when woken (NOTIFY, a write of this process) and every `pollInterval`,
 * one read at a time: a wake-up during a read makes it read once more afterwards.
 */
export class OutboxReader {
  private readonly me = randomUUID();
  private readonly lease: number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private leader = false;
  private leaseUntil = 0;
  private lastTry = 0;
  private failing = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly source: OutboxSource,
    private readonly options: OutboxReaderOptions,
    private readonly logger: Logger,
  ) {
    this.lease = Math.max(10_000, 5 * options.pollInterval);
  }

  /** Starts after the last row already recorded: changes committed before start-up are not pushed. */
  async start(): Promise<void> {
    const [{ last }] = await records<{ last: unknown }>(this.dataSource, `SELECT COALESCE(MAX(id), 0) AS last FROM ${OUTBOX_TABLE}`);
    await this.source.resetCursor(Number(last));
    await this.source.start(() => this.wake());
    this.timer = setInterval(() => this.wake(), this.options.pollInterval);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.source.stop();
    if (this.leader) {
      // Hand the lease over now rather than when it expires.
      await records(this.dataSource, `UPDATE ${CURSOR_TABLE} SET lease_until = 0 WHERE name = 'shared' AND owner = ${this.p(1)}`, [this.me]).catch(
        () => undefined,
      );
    }
  }

  /** Reads soon; resolves when the read this wake-up asked for is done. */
  wake(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.drain().finally(() => (this.running = undefined));
    return this.running;
  }

  private async drain(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.readAll();
        this.failing = false;
      } catch (error) {
        // Logged once per outage, not on every poll.
        if (!this.failing) this.logger.error(`Capture in the database: reading the outbox failed: ${(error as Error)?.message ?? error}`);
        this.failing = true;
        return;
      }
    } while (this.again && !this.stopped);
  }

  private async readAll(): Promise<void> {
    if (this.options.shared && !(await this.takeLease())) return;
    for (;;) {
      const { rows, more } = await this.source.fetch(BATCH, BATCH_BYTES);
      if (rows.length) await this.options.deliver(rows);
      if (this.options.shared && rows.length) {
        await records(this.dataSource, `UPDATE ${CURSOR_TABLE} SET last_id = ${this.p(1)} WHERE name = 'shared' AND owner = ${this.p(2)}`, [
          this.source.lastId,
          this.me,
        ]);
      }
      // A batch cut short by its limits is not the end: read on.
      if (!more || this.stopped) return;
    }
  }

  /**
   * Takes or renews the lease on the shared cursor; a new leader continues where the last one
   * stopped. Not on every wake-up: the holder renews once half the lease has passed, the
   * others try once per poll interval, so a NOTIFY costs the instances no write each.
   */
  private async takeLease(): Promise<boolean> {
    const now = Date.now();
    if (this.leader && now < this.leaseUntil - this.lease / 2) return true;
    if (!this.leader && now - this.lastTry < this.options.pollInterval) return false;
    this.lastTry = now;
    const rows = await records<{ last_id: unknown }>(
      this.dataSource,
      `UPDATE ${CURSOR_TABLE} SET owner = ${this.p(1)}, lease_until = ${this.p(2)} WHERE name = 'shared' AND (owner = ${this.p(3)} OR lease_until < ${this.p(4)}) RETURNING last_id`,
      [this.me, now + this.lease, this.me, now],
    );
    const leader = rows.length > 0;
    if (leader && !this.leader) await this.source.resetCursor(Number(rows[0].last_id));
    this.leader = leader;
    this.leaseUntil = leader ? now + this.lease : 0;
    return leader;
  }

  private p(n: number): string {
    return placeholder(this.dataSource, n);
  }
}
