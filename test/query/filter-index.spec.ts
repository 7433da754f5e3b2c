import fc from 'fast-check';
import { compileMatcher, equalityKey, FilterIndex, parseFilter, type EqualityKey } from '../../lib/query/index.js';
import { fields, limits } from './fixtures.js';

/**
 * The index of filter rooms by the equality each requires (query/filter-index.ts): for any
 * filters and any rows, the candidates it gives, once confirmed by their matchers, are
 * exactly the filters that matching every one in turn finds, in the same order.
 */

type Row = Record<string, unknown>;
interface Entry {
  id: number;
  keys?: EqualityKey;
  matches: (row: Row) => boolean;
}

const entry = (id: number, filter: unknown): Entry => {
  const node = parseFilter(filter, fields, limits);
  return { id, keys: equalityKey(node, fields), matches: compileMatcher(node, fields, 'sqlite') };
};

/** What the index replaces: every filter tried, for the row before or after. */
const linear = (entries: Iterable<Entry>, before?: Row, after?: Row) =>
  [...entries].filter((e) => (before && e.matches(before)) || (after && e.matches(after))).map((e) => e.id);
const indexed = (index: FilterIndex<Entry>, before?: Row, after?: Row) =>
  index
    .candidates(before, after)
    .filter((e) => (before && e.matches(before)) || (after && e.matches(after)))
    .map((e) => e.id);

describe('equalityKey', () => {
  const key = (filter: unknown) => equalityKey(parseFilter(filter, fields, limits), fields);

  it('takes a plain value, an eq or an in, normalized as the matcher compares them', () => {
    expect(key({ name: 'a' })).toEqual({ field: 'name', kind: 'string', values: ['a'] });
    expect(key({ price: { eq: 3 } })).toEqual({ field: 'price', kind: 'number', values: [3] });
    expect(key({ status: { in: ['x', 'y', 'x'] } })).toEqual({ field: 'status', kind: 'string', values: ['x', 'y'] });
    expect(key({ active: true })).toEqual({ field: 'active', kind: 'boolean', values: [1] });
    expect(key({ createdAt: '2024-01-01T00:00:00.000Z' })).toEqual({ field: 'createdAt', kind: 'date', values: [Date.UTC(2024, 0, 1)] });
  });

  it('of the equalities a whole filter requires, the one with the fewest values', () => {
    expect(key({ status: { in: ['x', 'y'] }, price: { gt: 2 }, id: 7 })).toEqual({ field: 'id', kind: 'number', values: [7] });
    expect(key({ $and: [{ price: { lt: 9 } }, { name: { in: ['a'] } }] })).toEqual({ field: 'name', kind: 'string', values: ['a'] });
  });

  it('none for eq null, ranges, patterns, negations, or an or', () => {
    for (const filter of [
      { name: null },
      { name: { eq: null } },
      { price: { gt: 1, lte: 5 } },
      { name: { like: 'a%' } },
      { name: { ne: 'a' } },
      { status: { nin: ['a'] } },
      { name: { isNull: true } },
      { $or: [{ id: 1 }, { id: 2 }] },
    ]) {
      expect(key(filter)).toBeUndefined();
    }
  });
});

describe('FilterIndex', () => {
  // Few values, so that filters and rows often meet; wrong types and nulls on purpose.
  const value = fc.constantFrom<unknown>(0, 1, 2, -0, 2.5, 'a', 'b', '', '1', true, false, null, '2024-01-01T00:00:00.000Z');
  // Mostly values of the field's kind (so that most filters parse), sometimes any value.
  const kinds: Record<string, unknown[]> = {
    id: [0, 1, 2, -0, 2.5],
    name: ['a', 'b', ''],
    price: [0, 1, 2, null],
    status: ['a', 'b', null],
    active: [true, false],
    createdAt: ['2024-01-01T00:00:00.000Z', 0],
    meta: ['a', 1, true, null],
  };
  const valueOf = (field: string) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...kinds[field]) }, value);
  const op = fc.constantFrom('eq', 'ne', 'in', 'nin', 'gt', 'lte', 'isNull', 'like');
  const condition = fc.constantFrom(...Object.keys(kinds)).chain((field) =>
    fc.oneof(
      valueOf(field).map((value) => ({ [field]: value })),
      fc.record({ op, value: valueOf(field), list: fc.array(valueOf(field), { maxLength: 3 }) }).map(({ op, value, list }) => ({
        [field]: { [op]: op === 'in' || op === 'nin' ? list : op === 'like' ? String(value) : op === 'isNull' ? value === true : value },
      })),
    ),
  );
  const leaf = fc.array(condition, { minLength: 1, maxLength: 3 }).map((parts) => Object.assign({}, ...parts) as Record<string, unknown>);
  const filter = fc.oneof(
    { weight: 3, arbitrary: leaf },
    fc.record({ $or: fc.array(leaf, { minLength: 1, maxLength: 3 }) }),
    fc.tuple(leaf, fc.array(leaf, { minLength: 1, maxLength: 2 })).map(([a, more]) => ({ ...a, $and: more })),
  );
  const rowValue = fc.oneof(value, fc.constant(undefined), fc.constantFrom<unknown>(new Date(Date.UTC(2024, 0, 1)), 1n, ' ', 'A'));
  const row = fc.record({ id: rowValue, name: rowValue, price: rowValue, status: rowValue, active: rowValue, createdAt: rowValue, meta: rowValue });
  const maybeRow = fc.option(row, { nil: undefined });

  /** The filters that parse (the generator also makes ones the parser refuses). */
  const entries = (filters: unknown[]) =>
    filters.flatMap((f, id) => {
      try {
        return [entry(id, f)];
      } catch {
        return [];
      }
    });

  it('finds exactly the filters that matching all finds, in the same order, for rows before and after', () => {
    fc.assert(
      fc.property(fc.array(filter, { maxLength: 40 }), fc.array(fc.tuple(maybeRow, maybeRow), { maxLength: 10 }), (filters, changes) => {
        const all = entries(filters);
        const index = new FilterIndex<Entry>();
        all.forEach((e) => index.add(e));
        for (const [before, after] of changes) expect(indexed(index, before, after)).toEqual(linear(all, before, after));
      }),
      { numRuns: 300 },
    );
  });

  it('stays exact as filters come and go', () => {
    fc.assert(
      fc.property(fc.array(filter, { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 20 }), row, row, (filters, removals, before, after) => {
        const all = entries(filters);
        const index = new FilterIndex<Entry>();
        all.forEach((e) => index.add(e));
        const kept = new Set(all);
        for (const r of removals) {
          const gone = all[r % Math.max(1, all.length)];
          if (!gone) continue;
          expect(index.delete(gone)).toBe(kept.delete(gone));
          // Back at the end, as the hub re-creates a room.
          if (r % 3 === 0) {
            index.add(gone);
            kept.add(gone);
          }
        }
        expect(index.size).toBe(kept.size);
        expect(indexed(index, before, after)).toEqual(linear(index, before, after));
        expect(new Set(index)).toEqual(kept);
      }),
      { numRuns: 200 },
    );
  });

  it('tries only the filters a row can match among 10,000 equality filters, plus the unindexed ones', () => {
    const index = new FilterIndex<Entry>();
    let tried = 0;
    const counted = (e: Entry): Entry => ({ ...e, matches: (row) => (tried++, e.matches(row)) });
    for (let i = 0; i < 10_000; i++) index.add(counted(entry(i, i % 2 ? { id: i } : { name: `n${i}`, price: { gte: 0 } })));
    index.add(counted(entry(10_000, { price: { gt: 5 } })));
    const before = { id: 7, name: 'n8', price: 1 };
    const after = { id: 7, name: 'n8', price: 9 };
    expect(indexed(index, before, after)).toEqual([7, 8, 10_000]);
    expect(tried).toBeLessThanOrEqual(6);
  });
});
