import type { Row } from '../rows/entity-change.js';

/**
 * One operation on a client's `rows` (PROTOCOL.md section 9), applied in order:
 * `insert` puts a row at an index, `remove` takes the row at an index out, `update`
 * replaces the row at an index (same id), `move` takes a row out and puts it at the index
 * it must have in the shortened array (its final index).
 */
export type LiveOp = ['insert', number, Row] | ['remove', number] | ['update', number, Row] | ['move', number, number];

/**
 * The operations that turn `before` into `after`, both lists of distinct ids (`key` gives a
 * row's id as a string). Rows that left are removed first (from the end, so indexes stay
 * simple), then each index of `after` is filled in order: the row already there is kept
 * (updated when its JSON changed), moved up from further down, or inserted. A row that
 * only changed its values costs one `update`; a row entering or leaving costs one op; the
 * rows that merely shift because of it cost nothing.
 */
export function diffPage(before: readonly Row[], after: readonly Row[], key: (row: Row) => string): LiveOp[] {
  const ops: LiveOp[] = [];
  const wanted = new Set(after.map(key));
  const current: Array<{ id: string; row: Row }> = before.map((row) => ({ id: key(row), row }));
  for (let i = current.length - 1; i >= 0; i--) {
    if (wanted.has(current[i].id)) continue;
    ops.push(['remove', i]);
    current.splice(i, 1);
  }
  for (let t = 0; t < after.length; t++) {
    const row = after[t];
    const id = key(row);
    let at = current[t]?.id === id ? t : -1;
    if (at < 0) {
      for (let j = t + 1; j < current.length; j++) {
        if (current[j].id === id) {
          at = j;
          break;
        }
      }
      if (at > t) {
        ops.push(['move', at, t]);
        current.splice(t, 0, current.splice(at, 1)[0]);
      }
    }
    if (at < 0) {
      ops.push(['insert', t, row]);
      current.splice(t, 0, { id, row });
    } else if (JSON.stringify(current[t].row) !== JSON.stringify(row)) {
      ops.push(['update', t, row]);
      current[t] = { id, row };
    }
  }
  return ops;
}

/** Applies `ops` to a copy of `rows`, as a client does (used by the tests of the diff and by the bench). */
export function applyOps(rows: readonly Row[], ops: readonly LiveOp[]): Row[] {
  const out = [...rows];
  for (const op of ops) {
    switch (op[0]) {
      case 'insert':
        out.splice(op[1], 0, op[2]);
        break;
      case 'remove':
        out.splice(op[1], 1);
        break;
      case 'update':
        out[op[1]] = op[2];
        break;
      case 'move':
        out.splice(op[2], 0, out.splice(op[1], 1)[0]);
        break;
    }
  }
  return out;
}
