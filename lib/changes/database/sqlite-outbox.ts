import type { DataSource } from 'typeorm';
import { OUTBOX_TABLE, type OutboxRow } from './outbox-names.js';
import { stateText, type OutboxBatch, type OutboxSource } from './outbox-source.js';
import { records } from './outbox-query.js';

/** Statements that may write (outside a transaction they commit at once), and the end of a transaction. */
const WRITES = /^\s*(insert|update|delete|replace|with)\b/i;
const COMMITS = /^\s*(commit|end)\b/i;

/**
 * The outbox of a SQLite database. SQLite runs one write transaction at a time and
 * AUTOINCREMENT hands out ids inside it, so id order is commit order and a cursor on the
 * last id read loses nothing. Writes of this process wake the reader right after they
 * return (through the driver's query runners); other processes' commits are found by the poll.
 * Reads go through the DataSource, so they wait for a transaction open on the connection
 * and never see its uncommitted rows.
 */
export class SqliteOutbox implements OutboxSource {
  lastId = 0;
  private restore?: () => void;

  constructor(private readonly dataSource: DataSource) {}

  async resetCursor(lastId: number): Promise<void> {
    this.lastId = lastId;
  }

  async fetch(limit: number, bytes: number): Promise<OutboxBatch> {
    const raws = await records<{ id: number; tbl: string; op: OutboxRow['op']; old_row: string | null; new_row: string | null; reach: number }>(
      this.dataSource,
      // A running total of the states' sizes keeps a batch of large rows within `bytes`.
      `SELECT id, tbl, op, old_row, new_row, earlier + size AS reach FROM (
         SELECT *, SUM(size) OVER (ORDER BY id) - size AS earlier FROM (
           SELECT id, tbl, op, old_row, new_row, COALESCE(LENGTH(CAST(old_row AS BLOB)), 0) + COALESCE(LENGTH(CAST(new_row AS BLOB)), 0) AS size
           FROM ${OUTBOX_TABLE} WHERE id > ? ORDER BY id LIMIT ?))
       WHERE earlier < ? ORDER BY id`,
      [this.lastId, limit, bytes],
    );
    if (raws.length) this.lastId = Number(raws[raws.length - 1].id);
    return {
      rows: raws.map((r) => ({ id: Number(r.id), table: r.tbl, op: r.op, before: stateText(r.old_row), after: stateText(r.new_row) })),
      more: raws.length === limit || (raws.length > 0 && Number(raws[raws.length - 1].reach) >= bytes),
    };
  }

  async start(wake: () => void): Promise<void> {
    const driver = this.dataSource.driver as any;
    const create = driver.createQueryRunner;
    driver.createQueryRunner = function (this: unknown, ...args: unknown[]) {
      const runner = create.apply(this, args);
      const query = runner.query;
      runner.query = async function (this: unknown, sql: unknown, ...rest: unknown[]) {
        const result = await query.call(this, sql, ...rest);
        // A write inside a transaction wakes the reader at its COMMIT, not before (the read
        // would only wait for the connection). Our own cursor updates name the outbox: no wake.
        if (typeof sql === 'string' && !sql.includes(OUTBOX_TABLE) && (COMMITS.test(sql) || (WRITES.test(sql) && !runner.isTransactionActive))) wake();
        return result;
      };
      return runner;
    };
    this.restore = () => {
      driver.createQueryRunner = create;
    };
  }

  async stop(): Promise<void> {
    this.restore?.();
  }
}
