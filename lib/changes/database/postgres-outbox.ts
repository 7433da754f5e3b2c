import type { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { NOTIFY_CHANNEL, OUTBOX_TABLE, type OutboxRow } from './outbox-names.js';
import { stateText, type OutboxBatch, type OutboxSource } from './outbox-source.js';
import { records } from './outbox-query.js';
import { GAP_MAX_AGE, OutboxGaps } from './outbox-gaps.js';

/** Ids before a resumed cursor checked for transactions still open. */
const RESUME_WINDOW = 1000;
const RECONNECT_MIN = 100;
const RECONNECT_MAX = 5000;

/**
 * The outbox of a PostgreSQL database. Ids come from a sequence when a row is written, but
 * transactions commit in any order: a reader that moved past an id still uncommitted would
 * never see that row. So the reader moves on past such an id (it delivers what is committed
 * now) but remembers it as a gap, and reads gaps again on every wake-up until the row
 * appears, or until the snapshot shows that every transaction that was running when the gap
 * was seen has ended (the id was rolled back, or skipped by the sequence). Rows of one table
 * row are locked by the write that records them, so their ids follow their commit order.
 *
 * One connection of its own LISTENs for the trigger's NOTIFY (sent at commit); when it is lost
 * (server restart, pg_terminate_backend) it is replaced with back-off and the reader catches
 * up from its cursor: the outbox still has every row.
 */
export class PostgresOutbox implements OutboxSource {
  lastId = 0;
  private readonly gaps = new OutboxGaps();
  private client?: any;
  private wake: () => void = () => undefined;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  private delay = RECONNECT_MIN;

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
  ) {}

  /** The server process id of the listening connection (tests end it to check the reconnection). */
  get listenerPid(): number | undefined {
    return this.client?.processID;
  }

  /** Gaps currently tracked (for tests). */
  get openGaps(): number {
    return this.gaps.ranges.length;
  }

  /**
   * Continues after `lastId`. Ids missing among the RESUME_WINDOW ids up to it may belong to
   * transactions still open (at start-up, or those a previous lease holder was waiting
   * for): they become gaps, read until they appear or can no longer appear.
   */
  async resetCursor(lastId: number): Promise<void> {
    const [{ xmax, present }] = await records<{ xmax: string; present: string[] }>(
      this.dataSource,
      `SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax,
              ARRAY(SELECT o.id FROM ${OUTBOX_TABLE} o WHERE o.id > $1 AND o.id <= $2 ORDER BY o.id)::text[] AS present`,
      [lastId - RESUME_WINDOW, lastId],
    );
    this.lastId = lastId;
    this.gaps.clear();
    const now = Date.now();
    let next = Math.max(1, lastId - RESUME_WINDOW + 1);
    for (const id of [...present.map(Number).sort((x, y) => x - y), lastId + 1]) {
      this.gaps.add(next, id - 1, BigInt(xmax), now);
      next = id + 1;
    }
  }

  async fetch(limit: number, bytes: number): Promise<OutboxBatch> {
    const params: unknown[] = [this.lastId];
    const gapSql = this.gaps.ranges.map((g) => {
      params.push(g.from, g.to);
      return ` OR id BETWEEN $${params.length - 1} AND $${params.length}`;
    });
    params.push(limit, bytes);
    // One statement: the snapshot it reports is the one the outbox was read with.
    const raws = await records<{
      xmin: string;
      xmax: string;
      id: string | null;
      tbl: string;
      op: OutboxRow['op'];
      old_row: unknown;
      new_row: unknown;
      reach: string | null;
    }>(
      this.dataSource,
      `SELECT pg_snapshot_xmin(s.snap)::text AS xmin, pg_snapshot_xmax(s.snap)::text AS xmax, o.id::text AS id, o.tbl, o.op, o.old_row, o.new_row, (o.earlier + o.size)::text AS reach
       FROM (SELECT pg_current_snapshot() AS snap) s
       LEFT JOIN (
         SELECT * FROM (
           SELECT *, SUM(size) OVER (ORDER BY id) - size AS earlier FROM (
             SELECT id, tbl, op, old_row::text AS old_row, new_row::text AS new_row,
                    COALESCE(octet_length(old_row::text), 0) + COALESCE(octet_length(new_row::text), 0) AS size
             FROM ${OUTBOX_TABLE} WHERE id > $1${gapSql.join('')} ORDER BY id LIMIT $${params.length - 1}) l) w
         WHERE earlier < $${params.length}) o ON true
       ORDER BY o.id`,
      params,
    );
    const xmin = BigInt(raws[0].xmin);
    const xmax = BigInt(raws[0].xmax);
    const now = Date.now();
    const rows: OutboxRow[] = [];
    for (const raw of raws) {
      if (raw.id === null) continue;
      const id = Number(raw.id);
      if (id <= this.lastId) this.gaps.fill(id);
      else {
        this.gaps.add(this.lastId + 1, id - 1, xmax, now);
        this.lastId = id;
      }
      rows.push({ id, table: raw.tbl, op: raw.op, before: stateText(raw.old_row), after: stateText(raw.new_row) });
    }
    const lost = this.gaps.forget(xmin, now);
    if (lost) {
      this.logger.warn(
        `Capture in the database: gave up waiting for ${lost} outbox id range(s) of transactions still open after ${GAP_MAX_AGE / 60_000} minutes (or too many); their changes will not be pushed`,
      );
    }
    const last = raws[raws.length - 1];
    return { rows, more: rows.length === limit || (rows.length > 0 && Number(last.reach) >= bytes) };
  }

  async start(wake: () => void): Promise<void> {
    this.wake = wake;
    await this.listen();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async listen(): Promise<void> {
    if (this.stopped) return;
    // A connection of its own, with the pool's settings: it never takes a slot the application's queries need.
    const driver = this.dataSource.driver as any;
    const client = new driver.postgres.Client(driver.master.options);
    client.on('error', (error: Error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    client.on('notification', (message: { channel: string }) => {
      if (message.channel === NOTIFY_CHANNEL) this.wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    } catch (error) {
      client.end().catch(() => undefined);
      this.reconnect(error as Error);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.delay = RECONNECT_MIN;
    // What was committed while nobody listened is in the outbox: read it now.
    this.wake();
  }

  private lost(client: any, error: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.reconnect(error);
  }

  private reconnect(error: Error): void {
    if (this.stopped) return;
    this.logger.warn(`Capture in the database: the LISTEN connection was lost (${error.message}); reconnecting in ${this.delay} ms`);
    this.retry = setTimeout(() => void this.listen(), this.delay);
    this.delay = Math.min(this.delay * 2, RECONNECT_MAX);
  }
}
