/** Names of what `capture: 'database'` installs; everything starts with `nest_bindings_` so removal finds it all. */
export const OUTBOX_TABLE = 'nest_bindings_outbox';
/** One row per shared cursor: which instance publishes the outbox to a shared room adapter, and how far it got. */
export const CURSOR_TABLE = 'nest_bindings_outbox_cursor';
/** PostgreSQL: the trigger function, the name of the trigger on each table, and the NOTIFY channel. */
export const CAPTURE_FUNCTION = 'nest_bindings_capture';
export const NOTIFY_CHANNEL = 'nest_bindings_outbox';
/** PostgreSQL: the statement trigger recording the rows a TRUNCATE removes (row triggers do not fire for it). */
export const TRUNCATE_TRIGGER = 'nest_bindings_capture_truncate';
/** Prefix of the SQLite triggers (one per table and operation). */
export const TRIGGER_PREFIX = 'nest_bindings_';
/**
 * The outbox keeps at most about this many rows: every 256th insert deletes the rows this
 * far behind it, in the trigger itself, so the bound holds when no instance is running.
 */
export const OUTBOX_ROWS = 100_000;
export const TRIM_EVERY = 256;

/** One recorded change as the readers return it: each state as the JSON text of an object keyed by column name. */
export interface OutboxRow {
  id: number;
  /** TypeORM's `tablePath` of the changed table. */
  table: string;
  op: 'I' | 'U' | 'D';
  before?: string;
  after?: string;
}
