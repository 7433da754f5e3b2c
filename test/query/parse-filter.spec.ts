import { andFilters, parseFilter, parseSearch, type FilterNode } from '../../lib/query/index.js';
import { badRequest, fields, limits } from './fixtures.js';

const parse = (input: unknown, lim = limits) => parseFilter(input, fields, lim);
const cmp = (field: string, op: string, value: unknown): FilterNode => ({ kind: 'cmp', field, op: op as 'eq', value });

describe('parseFilter', () => {
  it('treats undefined, null and {} as no filter', () => {
    expect(parse(undefined)).toBeUndefined();
    expect(parse(null)).toBeUndefined();
    expect(parse({})).toBeUndefined();
  });

  it('parses the contract example into an AND of comparisons', () => {
    expect(parse({ status: 'open', price: { gte: 10, lt: 100 }, name: { ilike: '%lamp%' } })).toEqual({
      kind: 'and',
      nodes: [cmp('status', 'eq', 'open'), cmp('price', 'gte', 10), cmp('price', 'lt', 100), cmp('name', 'ilike', '%lamp%')],
    });
  });

  it('gives a single comparison without an and node', () => {
    expect(parse({ price: { gt: 3 } })).toEqual(cmp('price', 'gt', 3));
  });

  it.each<[string, unknown, FilterNode]>([
    ['eq on a string', { status: { eq: 'open' } }, cmp('status', 'eq', 'open')],
    ['eq shorthand on a number', { price: 10 }, cmp('price', 'eq', 10)],
    ['eq shorthand on a boolean', { active: false }, cmp('active', 'eq', false)],
    ['eq null (IS NULL)', { price: null }, cmp('price', 'eq', null)],
    ['eq null on a non-nullable field', { id: { eq: null } }, cmp('id', 'eq', null)],
    ['ne', { status: { ne: 'open' } }, cmp('status', 'ne', 'open')],
    ['ne null', { name: { ne: null } }, cmp('name', 'ne', null)],
    ['gt on a number', { price: { gt: 1.5 } }, cmp('price', 'gt', 1.5)],
    ['gte on a string', { name: { gte: 'M' } }, cmp('name', 'gte', 'M')],
    ['lt on a negative number', { price: { lt: -3 } }, cmp('price', 'lt', -3)],
    ['lte on a date string', { createdAt: { lte: '2024-03-01T12:00:00Z' } }, cmp('createdAt', 'lte', new Date('2024-03-01T12:00:00Z'))],
    ['gt on a date in milliseconds', { createdAt: { gt: 0 } }, cmp('createdAt', 'gt', new Date(0))],
    ['in on numbers', { price: { in: [1, 2, 3] } }, cmp('price', 'in', [1, 2, 3])],
    ['in, empty', { price: { in: [] } }, cmp('price', 'in', [])],
    ['nin on strings', { status: { nin: ['a', 'b'] } }, cmp('status', 'nin', ['a', 'b'])],
    ['in on booleans', { active: { in: [true] } }, cmp('active', 'in', [true])],
    ['in on dates', { createdAt: { in: ['2024-01-01', 86_400_000] } }, cmp('createdAt', 'in', [new Date('2024-01-01T00:00:00Z'), new Date(86_400_000)])],
    ['like', { name: { like: 'L_mp%' } }, cmp('name', 'like', 'L_mp%')],
    ['ilike', { name: { ilike: '%100\\%%' } }, cmp('name', 'ilike', '%100\\%%')],
    ['like with an escaped backslash at the end', { name: { like: 'a\\\\' } }, cmp('name', 'like', 'a\\\\')],
    ['isNull true', { price: { isNull: true } }, cmp('price', 'isNull', true)],
    ['isNull false', { price: { isNull: false } }, cmp('price', 'isNull', false)],
    ['eq on an other field', { meta: 'x' }, cmp('meta', 'eq', 'x')],
    ['ne on an other field', { meta: { ne: 3 } }, cmp('meta', 'ne', 3)],
    ['isNull on an other field', { meta: { isNull: true } }, cmp('meta', 'isNull', true)],
  ])('accepts %s', (_name, input, expected) => {
    expect(parse(input)).toEqual(expected);
  });

  it.each<[string, unknown, string, string, RegExp]>([
    ['a string for a number', { price: 'ten' }, 'price', 'type', /^filter\.price must be a finite number$/],
    ['NaN', { price: { gte: NaN } }, 'price', 'type', /^filter\.price\.gte must be a finite number$/],
    ['Infinity', { price: { lt: Infinity } }, 'price', 'type', /filter\.price\.lt must be a finite number/],
    ['a number for a string', { status: { eq: 5 } }, 'status', 'type', /filter\.status\.eq must be a string/],
    ['a string for a boolean', { active: 'true' }, 'active', 'type', /filter\.active must be a boolean/],
    ['1 for a boolean', { active: { ne: 1 } }, 'active', 'type', /filter\.active\.ne must be a boolean/],
    ['a non-ISO date', { createdAt: { gt: 'March 7 2024' } }, 'createdAt', 'type', /filter\.createdAt\.gt must be an ISO-8601 date/],
    ['an impossible date', { createdAt: '2024-02-30' }, 'createdAt', 'type', /filter\.createdAt must be an ISO-8601/],
    ['an impossible time', { createdAt: '2024-02-01T25:00:00Z' }, 'createdAt', 'type', /ISO-8601/],
    ['a boolean for a date', { createdAt: { lt: true } }, 'createdAt', 'type', /ISO-8601/],
    ['an array as a value', { status: ['open'] }, 'status', 'type', /filter\.status must be a string/],
    ['gt on a boolean', { active: { gt: true } }, 'active', 'operator', /filter\.active\.gt: operator gt is not allowed on field active/],
    ['like on a number', { price: { like: '1%' } }, 'price', 'operator', /operator like is not allowed on field price/],
    ['ilike on a date', { createdAt: { ilike: '2024%' } }, 'createdAt', 'operator', /operator ilike/],
    ['a number for like', { name: { like: 5 } }, 'name', 'type', /filter\.name\.like must be a string/],
    ['a pattern ending in a lone escape', { name: { like: 'abc\\' } }, 'name', 'type', /lone escape/],
    ['in without an array', { price: { in: 5 } }, 'price', 'type', /filter\.price\.in must be an array/],
    ['null inside in', { price: { in: [1, null] } }, 'price', 'type', /filter\.price\.in\[1\] must be a finite number/],
    ['a wrong type inside nin', { status: { nin: ['a', 2] } }, 'status', 'type', /filter\.status\.nin\[1\] must be a string/],
    ['isNull with a non-boolean', { price: { isNull: 'yes' } }, 'price', 'type', /filter\.price\.isNull must be a boolean/],
    ['isNull with null', { price: { isNull: null } }, 'price', 'type', /must be a boolean/],
    ['gt on an other field', { meta: { gt: 1 } }, 'meta', 'operator', /operator gt is not allowed/],
    ['in on an other field', { meta: { in: ['a'] } }, 'meta', 'operator', /operator in is not allowed/],
    ['an object value on an other field', { meta: { eq: { a: 1 } } }, 'meta', 'type', /filter\.meta\.eq must be a string, number or boolean/],
    ['an empty operator object', { price: {} }, 'price', 'operator', /filter\.price must name at least one operator/],
    [
      'an unknown operator',
      { price: { between: [1, 2] } },
      'price',
      'operator',
      /^filter\.price\.between: unknown operator "between" \(allowed: eq, ne, gt, gte, lt, lte, in, nin, like, ilike, isNull\)$/,
    ],
    ['the internal contains operator', { name: { contains: 'x' } }, 'name', 'operator', /unknown operator "contains"/],
    ['an unknown field', { color: 'red' }, 'color', 'filterFields', /filter\.color: "color" is not a filterable field/],
    ['an unknown field inside $or', { $or: [{ price: 1 }, { colour: 'red' }] }, 'colour', 'filterFields', /filter\.\$or\[1\]\.colour/],
  ])('rejects %s', (_name, input, field, constraint, message) => {
    const err = badRequest(() => parse(input));
    expect(err.message).toMatch(message);
    expect(err.details).toEqual([{ field, constraint, message: err.message }]);
  });

  it('normalizes dates: no offset means UTC, offsets are applied, milliseconds kept', () => {
    expect(parse({ createdAt: '2024-03-01T10:00' })).toEqual(cmp('createdAt', 'eq', new Date('2024-03-01T10:00:00Z')));
    expect(parse({ createdAt: '2024-03-01 10:00:00.5' })).toEqual(cmp('createdAt', 'eq', new Date('2024-03-01T10:00:00.500Z')));
    expect(parse({ createdAt: '2024-03-01T10:00:00+02:00' })).toEqual(cmp('createdAt', 'eq', new Date('2024-03-01T08:00:00Z')));
    expect(parse({ createdAt: '2024-02-29' })).toEqual(cmp('createdAt', 'eq', new Date('2024-02-29T00:00:00Z')));
    badRequest(() => parse({ createdAt: '2023-02-29' }));
    badRequest(() => parse({ createdAt: 8.64e15 + 1 })); // outside the range of Date
  });

  it('accepts Date instances (server-side scope filters)', () => {
    const d = new Date('2024-05-05T05:05:05Z');
    expect(parse({ createdAt: { gte: d } })).toEqual(cmp('createdAt', 'gte', d));
  });

  it('rejects input that is not a plain object', () => {
    for (const input of ['status=open', 5, true, [], [{ status: 'open' }], new Date(), new (class Filter {})()]) {
      const err = badRequest(() => parse(input));
      expect(err.message).toBe('filter must be a JSON object');
    }
  });

  describe('$or / $and', () => {
    it('combines filters', () => {
      expect(parse({ $or: [{ status: 'open' }, { price: { lt: 10 } }], active: true })).toEqual({
        kind: 'and',
        nodes: [{ kind: 'or', nodes: [cmp('status', 'eq', 'open'), cmp('price', 'lt', 10)] }, cmp('active', 'eq', true)],
      });
      // $and flattens into the surrounding AND.
      expect(parse({ $and: [{ status: 'open' }, { price: 1 }] })).toEqual({ kind: 'and', nodes: [cmp('status', 'eq', 'open'), cmp('price', 'eq', 1)] });
    });

    it.each<[string, unknown, RegExp]>([
      ['an empty array', { $or: [] }, /filter\.\$or must be a non-empty array of filters/],
      ['a non-array', { $and: { status: 'open' } }, /filter\.\$and must be a non-empty array/],
      ['a non-object element', { $or: [{ price: 1 }, 'x'] }, /filter\.\$or\[1\] must be a JSON object/],
      ['an empty element', { $or: [{}] }, /filter\.\$or\[0\] must not be an empty object/],
      ['an unknown combinator', { $not: [{ price: 1 }] }, /unknown combinator "\$not"/],
    ])('rejects %s', (_name, input, message) => {
      expect(badRequest(() => parse(input)).message).toMatch(message);
    });

    // The outer filter is depth 1, each $or/$and level adds one.
    const nest = (depth: number): Record<string, unknown> => (depth === 1 ? { price: 1 } : { $or: [nest(depth - 1), { status: 'x' }] });

    it('accepts depth 4', () => {
      const node = parse(nest(4));
      expect(node?.kind).toBe('or');
    });

    it('rejects depth 5', () => {
      const err = badRequest(() => parse(nest(5)));
      expect(err.message).toMatch(/nests filters deeper than 4 levels/);
      expect(err.details?.[0].constraint).toBe('filterDepth');
      // Also when the deep branch is an $and under $or, and with a lower limit.
      badRequest(() => parse({ $or: [{ $and: [{ $or: [{ $and: [{ price: 1 }] }] }] }] }));
      expect(parseFilter(nest(2), fields, { ...limits, depth: 2 })).toBeDefined();
      badRequest(() => parseFilter(nest(3), fields, { ...limits, depth: 2 }));
    });
  });

  it('limits the values of in / nin', () => {
    const ok = Array.from({ length: 1000 }, (_, i) => i);
    expect(parse({ id: { in: ok } })).toEqual(cmp('id', 'in', ok));
    const err = badRequest(() => parse({ id: { nin: [...ok, 1000] } }));
    expect(err.details).toEqual([{ field: 'id', constraint: 'inValues', message: 'filter.id.nin has 1001 values; at most 1000 are allowed' }]);
  });

  it('limits string length everywhere a string goes', () => {
    const max = 'x'.repeat(10_000);
    const over = max + 'x';
    expect(parse({ name: max })).toEqual(cmp('name', 'eq', max));
    for (const input of [{ name: over }, { name: { like: over } }, { status: { in: ['a', over] } }, { meta: over }, { createdAt: over }]) {
      const err = badRequest(() => parse(input));
      expect(err.details?.[0].constraint).toBe('stringLength');
      expect(err.message).toMatch(/is longer than 10000 characters/);
    }
  });

  it('limits the length of like / ilike patterns (limits.patternLength)', () => {
    const max = '%'.repeat(50) + 'a'.repeat(50);
    expect(parse({ name: { like: max } })).toEqual(cmp('name', 'like', max));
    for (const op of ['like', 'ilike']) {
      const err = badRequest(() => parse({ $or: [{ price: 1 }, { name: { [op]: max + '%' } }] }, { ...limits, patternTotal: 1000 }));
      expect(err.details).toEqual([{ field: 'name', constraint: 'patternLength', message: `filter.$or[1].name.${op} is longer than 100 characters` }]);
    }
    // Together, the patterns of one filter hold at most limits.patternTotal characters.
    const two = { $or: [{ name: { like: 'a'.repeat(60) } }, { status: { ilike: 'b'.repeat(40) } }] };
    expect(parse(two)).toBeDefined();
    const err = badRequest(() => parse({ ...two, name: { ilike: '%' } }));
    expect(err.details).toEqual([
      {
        field: 'name',
        constraint: 'patternTotal',
        message: 'filter.name.ilike: the like/ilike patterns of the filter are longer than 100 characters together',
      },
    ]);
    // An equality is not a pattern: only stringLength bounds it.
    expect(parse({ name: 'x'.repeat(101) })).toEqual(cmp('name', 'eq', 'x'.repeat(101)));
  });

  it('limits the field conditions of one filter, counted through every $or / $and (limits.filterTerms)', () => {
    const terms = (n: number) => Array.from({ length: n }, (_, i) => ({ price: i }));
    expect(parse({ $or: terms(100) })).toEqual({ kind: 'or', nodes: terms(100).map((t) => cmp('price', 'eq', t.price)) });
    const flat = badRequest(() => parse({ $or: terms(101) }));
    expect(flat.details).toEqual([
      { field: 'price', constraint: 'filterTerms', message: 'filter.$or[100].price: the filter has more than 100 field conditions' },
    ]);
    // Spread over nesting levels and operators of one field, the count is the same.
    const $and = [{ $or: terms(49) }, { $or: [{ $and: terms(49) }, { price: { gte: 1, lt: 2 } }] }];
    expect(parse({ $and })).toBeDefined(); // 49 + 49 + 2 = 100
    expect(badRequest(() => parse({ name: 'a', $and })).details?.[0]).toMatchObject({ field: 'price', constraint: 'filterTerms' });
  });

  describe('prototype keys', () => {
    it.each([
      ['__proto__ as a field', '{"__proto__": {"polluted": "yes"}}', /filter\.__proto__ is not allowed/],
      ['constructor as a field', '{"constructor": {"prototype": {"polluted": "yes"}}}', /filter\.constructor is not allowed/],
      ['prototype as a field', '{"prototype": 1}', /filter\.prototype is not allowed/],
      ['__proto__ inside $or', '{"$or": [{"__proto__": {"polluted": "yes"}}]}', /filter\.\$or\[0\]\.__proto__ is not allowed/],
      ['__proto__ as an operator', '{"price": {"__proto__": {"polluted": "yes"}}}', /unknown operator "__proto__"/],
      ['constructor as an operator', '{"price": {"constructor": 1}}', /unknown operator "constructor"/],
    ])('rejects %s and leaves Object.prototype alone', (_name, json, message) => {
      expect(badRequest(() => parse(JSON.parse(json))).message).toMatch(message);
      expect(Object.prototype).not.toHaveProperty('polluted');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });
});

describe('parseSearch', () => {
  const searchFields = ['name', 'status'];

  it('ORs a contains over the search fields', () => {
    expect(parseSearch('Lamp', fields, searchFields, limits)).toEqual({
      kind: 'or',
      nodes: [cmp('name', 'contains', 'Lamp'), cmp('status', 'contains', 'Lamp')],
    });
    expect(parseSearch('x', fields, ['name'], limits)).toEqual(cmp('name', 'contains', 'x'));
  });

  it('treats an absent or blank q as no search', () => {
    expect(parseSearch(undefined, fields, searchFields, limits)).toBeUndefined();
    expect(parseSearch('', fields, searchFields, limits)).toBeUndefined();
    expect(parseSearch('  \t', fields, searchFields, limits)).toBeUndefined();
  });

  it('rejects a non-string or too long q', () => {
    expect(badRequest(() => parseSearch(5, fields, searchFields, limits)).details).toEqual([{ field: 'q', constraint: 'type', message: 'q must be a string' }]);
    expect(badRequest(() => parseSearch({ $ne: 1 }, fields, searchFields, limits)).message).toBe('q must be a string');
    expect(badRequest(() => parseSearch('x'.repeat(10_001), fields, searchFields, limits)).details?.[0].constraint).toBe('stringLength');
  });

  it('limits q to limits.patternLength characters as sent, blanks included', () => {
    expect(parseSearch('x'.repeat(100), fields, ['name'], limits)).toEqual(cmp('name', 'contains', 'x'.repeat(100)));
    const err = badRequest(() => parseSearch(` ${'x'.repeat(100)}`, fields, searchFields, limits));
    expect(err.details).toEqual([{ field: 'q', constraint: 'patternLength', message: 'q is longer than 100 characters' }]);
  });

  it('refuses a misconfigured search field', () => {
    expect(() => parseSearch('x', fields, ['price'], limits)).toThrow(/searchFields: "price" is not an exposed string property/);
  });
});

describe('andFilters', () => {
  it('skips undefined, keeps one as is and flattens ANDs', () => {
    const a = cmp('price', 'gt', 1);
    const b = cmp('status', 'eq', 'open');
    const c = cmp('active', 'eq', true);
    expect(andFilters()).toBeUndefined();
    expect(andFilters(undefined, undefined)).toBeUndefined();
    expect(andFilters(undefined, a)).toBe(a);
    expect(andFilters(a, { kind: 'and', nodes: [b, c] })).toEqual({ kind: 'and', nodes: [a, b, c] });
    expect(andFilters({ kind: 'or', nodes: [a, b] }, c)).toEqual({ kind: 'and', nodes: [{ kind: 'or', nodes: [a, b] }, c] });
  });
});
