import { canonicalFilter, filterHash, parseFilter } from '../../lib/query/index.js';
import { fields, limits } from './fixtures.js';

const hash = (filter: unknown) => filterHash(parseFilter(filter, fields, limits));

describe('canonical filters', () => {
  it('gives equal filters the same hash whatever the key order', () => {
    const a = hash({ status: 'open', price: { gte: 10, lt: 100 }, name: { ilike: '%lamp%' } });
    expect(hash({ name: { ilike: '%lamp%' }, price: { lt: 100, gte: 10 }, status: 'open' })).toBe(a);
    expect(hash({ $and: [{ price: { lt: 100 } }, { name: { ilike: '%lamp%' } }, { status: 'open', price: { gte: 10 } }] })).toBe(a);
    expect(a).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('ignores $or/$and child order, duplicates, in-list order and date spelling', () => {
    expect(hash({ $or: [{ status: 'open' }, { price: { lt: 5 } }] })).toBe(hash({ $or: [{ price: { lt: 5 } }, { status: 'open' }, { status: 'open' }] }));
    expect(hash({ price: { in: [3, 1, 2, 1] } })).toBe(hash({ price: { in: [1, 2, 3] } }));
    expect(hash({ createdAt: { gte: '2024-03-01T10:00:00+02:00' } })).toBe(hash({ createdAt: { gte: '2024-03-01 08:00:00.000Z' } }));
    expect(hash({ createdAt: { gte: Date.UTC(2024, 2, 1) } })).toBe(hash({ createdAt: { gte: '2024-03-01' } }));
  });

  it('tells different filters apart', () => {
    const hashes = [
      hash({ status: 'open' }),
      hash({ status: 'Open' }),
      hash({ status: { ne: 'open' } }),
      hash({ status: { in: ['open'] } }),
      hash({ price: 1 }),
      hash({ price: 2 }),
      hash({ $or: [{ status: 'open' }, { price: 1 }] }),
      hash({ status: 'open', price: 1 }),
      hash({ name: { like: 'a%' } }),
      hash({ name: { ilike: 'a%' } }),
      filterHash(undefined),
    ];
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  it('does not confuse a string with a number or a date with its text', () => {
    expect(hash({ meta: '1' })).not.toBe(hash({ meta: 1 }));
    expect(hash({ meta: '2024-01-01T00:00:00.000Z' })).not.toBe(hash({ createdAt: '2024-01-01' }));
  });

  it('writes readable, stable text', () => {
    expect(canonicalFilter(undefined)).toBe('');
    expect(canonicalFilter(parseFilter({ price: { in: [2, 1] }, createdAt: '2024-01-01' }, fields, limits))).toBe(
      '{"and":[{"f":"createdAt","op":"eq","v":{"$date":"2024-01-01T00:00:00.000Z"}},{"f":"price","op":"in","v":[1,2]}]}',
    );
  });
});
