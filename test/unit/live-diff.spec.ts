import fc from 'fast-check';
import { applyOps, diffPage, type LiveOp } from '../../lib/live/live-diff.js';

type Row = { id: number; v: number };
const key = (row: Record<string, unknown>) => String(row.id);
const rows = (...ids: number[]): Row[] => ids.map((id) => ({ id, v: 0 }));

describe('diffPage: the ops that turn the old page into the new one', () => {
  it('turns any page into any other (property, seeded)', () => {
    const seed = Number(process.env.LIVE_SEED ?? 4242);
    // Pages of distinct ids drawn from a small pool, so that pages share many rows; values change too.
    const page = fc.uniqueArray(fc.record({ id: fc.integer({ min: 1, max: 15 }), v: fc.integer({ min: 0, max: 2 }) }), {
      selector: (row) => row.id,
      maxLength: 12,
    });
    fc.assert(
      fc.property(page, page, (before, after) => {
        const ops = diffPage(before, after, key);
        expect(applyOps(before, ops)).toEqual(after);
        // Never more ops than rows touched: at most one per row leaving, and two (move and update) per row of the new page.
        expect(ops.length).toBeLessThanOrEqual(before.length + 2 * after.length);
      }),
      { seed, numRuns: 2000 },
    );
  });

  it('sends nothing for an unchanged page', () => {
    expect(diffPage(rows(1, 2, 3), rows(1, 2, 3), key)).toEqual([]);
  });

  it('one op for a row that enters, leaves or changes, however many rows shift', () => {
    expect(diffPage(rows(1, 2, 3, 4), rows(9, 1, 2, 3), key)).toEqual([
      ['remove', 3],
      ['insert', 0, { id: 9, v: 0 }],
    ]);
    expect(diffPage(rows(1, 2, 3), rows(1, 3), key)).toEqual([['remove', 1]]);
    expect(
      diffPage(
        rows(1, 2, 3),
        [
          { id: 1, v: 0 },
          { id: 2, v: 5 },
          { id: 3, v: 0 },
        ],
        key,
      ),
    ).toEqual([['update', 1, { id: 2, v: 5 }]]);
  });

  it('a row that moves is one move (to its final index), plus an update when its values changed', () => {
    const ops = diffPage(rows(1, 2, 3, 4), [{ id: 4, v: 1 }, ...rows(1, 2, 3)], key);
    expect(ops).toEqual<LiveOp[]>([
      ['move', 3, 0],
      ['update', 0, { id: 4, v: 1 }],
    ]);
  });

  it('applyOps reads move as take out, then put at the index of the shortened array', () => {
    expect(applyOps(rows(1, 2, 3, 4), [['move', 0, 2]])).toEqual(rows(2, 3, 1, 4));
    expect(applyOps(rows(1, 2, 3, 4), [['move', 3, 1]])).toEqual(rows(1, 4, 2, 3));
  });
});
