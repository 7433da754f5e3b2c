import type { OutboxRow } from './outbox-names.js';

/** Rows read at once, and whether the limits cut the read short (more may be waiting). */
export interface OutboxBatch {
  rows: OutboxRow[];
  more: boolean;
}

/** How one database hands over its outbox: in commit order per row, each row once. */
export interface OutboxSource {
  /** The id of the last row handed over; reads continue after it. */
  readonly lastId: number;
  /** Continues after `lastId` from now on (start-up, or a cursor taken over from another instance). */
  resetCursor(lastId: number): Promise<void>;
  /**
   * The next rows, oldest first, each handed over once: at most `limit` of them, and no more
   * than `bytes` of recorded states once the first row is counted (that one always comes).
   */
  fetch(limit: number, bytes: number): Promise<OutboxBatch>;
  /** Starts calling `wake` when new rows may be there (a NOTIFY, a write of this process). */
  start(wake: () => void): Promise<void>;
  stop(): Promise<void>;
}

/** A recorded state as JSON text, left unparsed (PostgreSQL parses it back into the row type, bigints intact). */
export function stateText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}
