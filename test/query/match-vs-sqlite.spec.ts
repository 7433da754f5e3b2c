import { andFilters, compileMatcher, compileOrder, compileWhere, parseFilter, parseOrder, parseSearch, type FilterNode } from '../../lib/query/index.js';
import { at, cases, rows, searches } from './dataset.js';
import { collectingCtx, fields, limits, Sqlite, sqliteDatetime, toSqliteParam, type SqliteDatabase } from './fixtures.js';

let db: SqliteDatabase;
beforeAll(() => {
  db = new Sqlite(':memory:');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price INTEGER, status TEXT, active INTEGER NOT NULL, created_at TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)');
  for (const r of rows) insert.run(r.id, r.name, r.price, r.status, r.active ? 1 : 0, sqliteDatetime(r.createdAt));
});
afterAll(() => db.close());

function sqlIds(node: FilterNode, lists = false): number[] {
  const { ctx, params } = collectingCtx('sqlite', toSqliteParam, lists);
  const where = compileWhere(node, fields, ctx);
  return db
    .prepare(`SELECT id FROM items WHERE ${where} ORDER BY id`)
    .all(...params)
    .map((r) => r.id as number);
}
const memoryIds = (node: FilterNode, dialect?: 'sqlite') => rows.filter(compileMatcher(node, fields, dialect)).map((r) => r.id);

describe('in-memory matcher agrees with SQLite', () => {
  // Padded to two arguments: with one, jest would pass its `done` callback as `expected`.
  it.each(cases.map(([filter, expected]) => [filter, expected ?? null] as const))('%j', (filter, expected) => {
    const node = parseFilter(filter, fields, limits)!;
    const ids = sqlIds(node);
    if (expected) expect(ids).toEqual(expected);
    expect(sqlIds(node, true)).toEqual(ids); // in/nin lists as one JSON parameter, as RowStore sends them
    expect(memoryIds(node, 'sqlite')).toEqual(ids);
    expect(memoryIds(node)).toEqual(ids); // no non-ASCII case folding involved here
  });

  it('covers a real mix of results (not everything empty or full)', () => {
    const sizes = cases.map(([filter]) => sqlIds(parseFilter(filter, fields, limits)!).length);
    expect(sizes.filter((n) => n > 0 && n < rows.length).length).toBeGreaterThan(cases.length * 0.8);
  });

  it.each<[string, number[]]>(searches)('search %j agrees', (q, expected) => {
    const node = parseSearch(q, fields, ['name', 'status'], limits)!;
    expect(sqlIds(node)).toEqual(expected);
    expect(memoryIds(node, 'sqlite')).toEqual(expected);
    expect(memoryIds(node)).toEqual(expected);
  });

  it('folds non-ASCII case like SQLite with dialect sqlite, like PostgreSQL by default', () => {
    for (const node of [parseFilter({ name: { ilike: 'ä%' } }, fields, limits)!, parseSearch('Ä', fields, ['name'], limits)!]) {
      const ids = sqlIds(node);
      expect(ids.length).toBe(1); // SQLite's LOWER and LIKE fold ASCII only
      expect(memoryIds(node, 'sqlite')).toEqual(ids);
      expect(memoryIds(node)).toEqual([17, 18]);
    }
  });

  it('accepts rows as a raw driver returns them: 1/0 booleans, text dates, numeric strings', () => {
    const node = parseFilter({ active: true, createdAt: { gte: at(5).toISOString() }, price: { lt: 50 } }, fields, limits)!;
    const raw = db.prepare('SELECT id, name, price, status, active, created_at AS createdAt FROM items ORDER BY id').all();
    const match = compileMatcher(node, fields);
    expect(raw.filter(match).map((r) => r.id)).toEqual(sqlIds(node));
    expect(match({ id: 1, active: 1, createdAt: '2030-01-01 00:00:00.000', price: '49.5' })).toBe(true);
    expect(match({ id: 1, active: 0, createdAt: '2030-01-01 00:00:00.000', price: '49.5' })).toBe(false);
    expect(match({ id: 1, active: true, createdAt: '2030-01-01 00:00:00.000', price: undefined })).toBe(false);
  });

  it('with no filter matches everything', () => {
    expect(rows.filter(compileMatcher(undefined, fields)).length).toBe(rows.length);
  });

  it('orders NULLs last ascending and first descending', () => {
    const { ctx } = collectingCtx('sqlite');
    const ids = (order: unknown) =>
      db
        .prepare(`SELECT id FROM items ORDER BY ${compileOrder(parseOrder(order, new Set(['price', 'id'])), fields, ctx)}`)
        .all()
        .map((r) => r.id);
    expect(ids({ price: 'ASC', id: 'ASC' }).slice(-3)).toEqual([4, 21, 28]);
    expect(ids({ price: 'DESC', id: 'ASC' }).slice(0, 4)).toEqual([4, 21, 28, 22]);
  });

  // The largest filter the default limits allow: 100 terms, each an `in` of 1,000 values,
  // nested as deep as allowed, plus a scope. Before, SQLite refused it ("too many SQL
  // variables"), and a $or of 1,000 terms ("Expression tree is too large"): `internal`.
  it('runs the largest allowed filters: one parameter per in-list, and/or grouped into a shallow tree', () => {
    const values = (k: number) => Array.from({ length: 1000 }, (_, i) => i * 100 + k);
    const wide = { $or: Array.from({ length: 100 }, (_, k) => ({ price: { in: values(k) } })) };
    const deep = {
      $or: [{ $and: [{ $or: Array.from({ length: 97 }, (_, k) => ({ price: { nin: values(k) } })) }, { id: { gt: 0 } }] }],
      name: { like: '%a%' },
      status: { ne: 'x' },
    };
    const scope = parseFilter({ $or: Array.from({ length: 2000 }, (_, i) => ({ id: i })) }, fields, { ...limits, terms: 1e6 })!;
    for (const filter of [wide, deep]) {
      const node = andFilters(parseFilter(filter, fields, limits), scope)!;
      const ids = sqlIds(node, true);
      expect(ids).toEqual(rows.filter(compileMatcher(node, fields, 'sqlite')).map((r) => r.id));
      expect(ids.length).toBeGreaterThan(0);
    }
  });
});
