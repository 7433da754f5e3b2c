import { compileOrder, compileWhere, parseFilter, parseSearch, type Dialect } from '../../lib/query/index.js';
import { collectingCtx, fields, limits } from './fixtures.js';

function sql(dialect: Dialect, filter: unknown) {
  const { ctx, params, fieldsSeen } = collectingCtx(dialect);
  const text = compileWhere(parseFilter(filter, fields, limits)!, fields, ctx);
  return { text, params, fieldsSeen };
}

describe('compileWhere', () => {
  it.each<[unknown, string, string, unknown[]]>([
    [{ status: 'open' }, '"status" = ?', '"status" = $1', ['open']],
    [{ status: { ne: 'open' } }, '"status" <> ?', '"status" <> $1', ['open']],
    [{ price: { gt: 1 } }, '"price" > ?', '"price" > $1', [1]],
    [{ price: { gte: 1 } }, '"price" >= ?', '"price" >= $1', [1]],
    [{ price: { lt: 1 } }, '"price" < ?', '"price" < $1', [1]],
    [{ price: { lte: 1 } }, '"price" <= ?', '"price" <= $1', [1]],
    // Strings compare byte-wise on PostgreSQL, like SQLite's BINARY.
    [{ name: { gte: 'M' } }, '"name" >= ?', '"name" COLLATE "C" >= $1', ['M']],
    [{ status: null }, '"status" IS NULL', '"status" IS NULL', []],
    [{ status: { ne: null } }, '"status" IS NOT NULL', '"status" IS NOT NULL', []],
    [{ price: { isNull: true } }, '"price" IS NULL', '"price" IS NULL', []],
    [{ price: { isNull: false } }, '"price" IS NOT NULL', '"price" IS NOT NULL', []],
    [{ price: { in: [1, 2, 3] } }, '"price" IN (?, ?, ?)', '"price" IN ($1, $2, $3)', [1, 2, 3]],
    [{ price: { nin: [1, 2] } }, '"price" NOT IN (?, ?)', '"price" NOT IN ($1, $2)', [1, 2]],
    [{ price: { in: [] } }, '1=0', '1=0', []],
    [{ price: { nin: [] } }, '1=1', '1=1', []],
    [{ active: true }, '"active" = ?', '"active" = $1', [true]],
    [{ createdAt: { gte: '2024-01-01' } }, '"created_at" >= ?', '"created_at" >= $1', [new Date('2024-01-01T00:00:00Z')]],
    // SQLite's LIKE ignores case, so like becomes a GLOB with a converted pattern.
    [{ name: { like: 'L_mp%' } }, '"name" GLOB ?', '"name" LIKE $1', [['L?mp*', 'L_mp%']]],
    [{ name: { like: '\\%*?[x]\\_\\\\%' } }, '"name" GLOB ?', '"name" LIKE $1', [['%[*][?][[]x]_\\*', '\\%*?[x]\\_\\\\%']]],
    [{ name: { ilike: '%lamp%' } }, `LOWER("name") LIKE LOWER(?) ESCAPE '\\'`, '"name" ILIKE $1', ['%lamp%']],
  ])('%j', (filter, sqliteText, pgText, params) => {
    const lite = sql('sqlite', filter);
    const pg = sql('postgres', filter);
    expect(lite.text).toBe(sqliteText);
    expect(pg.text).toBe(pgText);
    const perDialect = (i: 0 | 1) => params.map((p) => (Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' ? p[i] : p));
    expect(lite.params).toEqual(perDialect(0));
    expect(pg.params).toEqual(perDialect(1));
  });

  it('parenthesizes and/or and numbers PostgreSQL placeholders in order', () => {
    const filter = { $or: [{ status: 'open', price: { gte: 10, lt: 100 } }, { name: { ilike: '%lamp%' } }], active: true };
    const pg = sql('postgres', filter);
    expect(pg.text).toBe('((("status" = $1 AND "price" >= $2 AND "price" < $3) OR "name" ILIKE $4) AND "active" = $5)');
    expect(pg.params).toEqual(['open', 10, 100, '%lamp%', true]);
    expect(pg.fieldsSeen).toEqual(['status', 'price', 'price', 'name', 'active']);
    expect(sql('sqlite', filter).text).toBe(`((("status" = ? AND "price" >= ? AND "price" < ?) OR LOWER("name") LIKE LOWER(?) ESCAPE '\\') AND "active" = ?)`);
  });

  it('never puts a value into the SQL text', () => {
    const evil = `x'; DROP TABLE items; --`;
    const filter = {
      $or: [{ name: evil }, { status: { in: [evil, 'b'] } }, { name: { like: `%${evil}%` } }, { name: { ilike: evil } }, { name: { gt: evil } }],
    };
    for (const dialect of ['sqlite', 'postgres'] as const) {
      const { text, params } = sql(dialect, filter);
      expect(text).not.toContain('DROP');
      expect(text).not.toMatch(/'x/);
      expect(params).toHaveLength(6);
      expect(params.filter((p) => typeof p === 'string' && p.includes('DROP TABLE'))).toHaveLength(5);
    }
  });

  it('compiles search into an escaped, case-insensitive contains', () => {
    const node = parseSearch('50%_off\\', fields, ['name', 'status'], limits)!;
    const lite = collectingCtx('sqlite');
    // SQLite: instr, no pattern at all (LIKE '%q%' costs text × q per row there).
    expect(compileWhere(node, fields, lite.ctx)).toBe('(instr(LOWER("name"), LOWER(?)) > 0 OR instr(LOWER("status"), LOWER(?)) > 0)');
    expect(lite.params).toEqual(['50%_off\\', '50%_off\\']);
    const pg = collectingCtx('postgres');
    expect(compileWhere(node, fields, pg.ctx)).toBe('("name" ILIKE $1 OR "status" ILIKE $2)');
    expect(pg.params).toEqual(['%50\\%\\_off\\\\%', '%50\\%\\_off\\\\%']);
  });

  it('handles empty and/or nodes built by hand', () => {
    const { ctx } = collectingCtx('sqlite');
    expect(compileWhere({ kind: 'and', nodes: [] }, fields, ctx)).toBe('1=1');
    expect(compileWhere({ kind: 'or', nodes: [] }, fields, ctx)).toBe('1=0');
  });

  it('refuses a field missing from the FieldMap', () => {
    const { ctx } = collectingCtx('sqlite');
    expect(() => compileWhere({ kind: 'cmp', field: 'nope', op: 'eq', value: 1 }, fields, ctx)).toThrow(/field "nope" is not in the FieldMap/);
  });
});

describe('compileOrder', () => {
  it('puts NULLs last ascending and first descending, byte-wise strings on PostgreSQL', () => {
    const order: Array<[string, 'ASC' | 'DESC']> = [
      ['price', 'DESC'],
      ['name', 'ASC'],
      ['createdAt', 'ASC'],
    ];
    expect(compileOrder(order, fields, collectingCtx('sqlite').ctx)).toBe('"price" DESC NULLS FIRST, "name" ASC NULLS LAST, "created_at" ASC NULLS LAST');
    expect(compileOrder(order, fields, collectingCtx('postgres').ctx)).toBe(
      '"price" DESC NULLS FIRST, "name" COLLATE "C" ASC NULLS LAST, "created_at" ASC NULLS LAST',
    );
    expect(compileOrder([], fields, collectingCtx('postgres').ctx)).toBe('');
  });
});
