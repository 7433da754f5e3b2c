import type { Row } from './types.js';

/**
 * One operation of a `<app>.<Model>.list.changed` frame (PROTOCOL.md section 9), applied to
 * the page's `rows` in order: `insert` puts `row` at index `i`; `remove` takes out the row
 * at `i`; `update` replaces the row at `i`; `move` takes the row at `from` out and puts it
 * at `to` of the shortened array (so `to` is its final index).
 */
export type LiveOp<T = Row> = ['insert', number, T] | ['remove', number] | ['update', number, T] | ['move', number, number];

/** The outcome of applying a frame's operations: the new rows, or why the frame cannot be applied. */
export type LiveOpsResult<T> = { ok: true; rows: T[] } | { ok: false; reason: string };

const isIndex = (value: unknown, below: number): value is number => Number.isInteger(value) && (value as number) >= 0 && (value as number) < below;
const isRow = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Applies `ops` in order to a copy of `rows` (never to `rows` itself, so a frame is taken
 * whole or not at all). Anything that does not fit the page (an unknown operation, an index
 * outside the array as it is at that step, a row that is not an object) gives the reason
 * instead: the client then asks for the page again rather than show a wrong one.
 */
export function applyLiveOps<T>(rows: readonly T[], ops: unknown): LiveOpsResult<T> {
  if (!Array.isArray(ops)) return { ok: false, reason: 'ops is not an array' };
  const next = rows.slice();
  for (let n = 0; n < ops.length; n++) {
    const op: unknown = ops[n];
    const fail = (why: string): LiveOpsResult<T> => ({ ok: false, reason: `op ${n} ${JSON.stringify(op)?.slice(0, 100)}: ${why}` });
    if (!Array.isArray(op)) return fail('not an array');
    const [kind, a, b] = op as unknown[];
    switch (kind) {
      case 'insert':
        if (op.length !== 3 || !isIndex(a, next.length + 1)) return fail(`index outside 0..${next.length}`);
        if (!isRow(b)) return fail('the row is not an object');
        next.splice(a, 0, b as T);
        break;
      case 'remove':
        if (op.length !== 2 || !isIndex(a, next.length)) return fail(`index outside 0..${next.length - 1}`);
        next.splice(a, 1);
        break;
      case 'update':
        if (op.length !== 3 || !isIndex(a, next.length)) return fail(`index outside 0..${next.length - 1}`);
        if (!isRow(b)) return fail('the row is not an object');
        next[a] = b as T;
        break;
      case 'move': {
        // `to` is the final index: at most the last index of the array, once the row is back.
        if (op.length !== 3 || !isIndex(a, next.length) || !isIndex(b, next.length)) return fail(`index outside 0..${next.length - 1}`);
        const [row] = next.splice(a, 1);
        next.splice(b, 0, row);
        break;
      }
      default:
        return fail('unknown operation');
    }
  }
  return { ok: true, rows: next };
}

/**
 * How many rows page `page` of `limit` rows holds when `count` rows match: a fresh `list`
 * answers exactly this many, so a page kept by frames must too.
 */
export function pageLength(page: number, limit: number, count: number): number {
  return Math.max(0, Math.min(limit, count - (page - 1) * limit));
}
