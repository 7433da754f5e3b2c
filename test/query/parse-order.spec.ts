import { parseOrder, parseOrderString } from '../../lib/query/index.js';
import { badRequest } from './fixtures.js';

const orderFields = new Set(['price', 'name', 'createdAt']);

describe('parseOrder', () => {
  it('keeps key order and accepts any case of ASC/DESC', () => {
    expect(parseOrder({ price: 'DESC', name: 'asc', createdAt: 'Desc' }, orderFields)).toEqual([
      ['price', 'DESC'],
      ['name', 'ASC'],
      ['createdAt', 'DESC'],
    ]);
  });

  it('gives [] for no order', () => {
    expect(parseOrder(undefined, orderFields)).toEqual([]);
    expect(parseOrder(null, orderFields)).toEqual([]);
    expect(parseOrder({}, orderFields)).toEqual([]);
  });

  it('rejects fields outside orderFields', () => {
    expect(badRequest(() => parseOrder({ secret: 'ASC' }, orderFields)).details).toEqual([
      { field: 'secret', constraint: 'orderFields', message: 'order.secret: "secret" is not an orderable field' },
    ]);
    expect(badRequest(() => parseOrder(JSON.parse('{"__proto__": "ASC"}'), orderFields)).details?.[0].field).toBe('__proto__');
  });

  it('rejects a bad direction', () => {
    for (const dir of ['up', '', 1, null, ['ASC']]) {
      expect(badRequest(() => parseOrder({ price: dir }, orderFields)).message).toBe('order.price must be "ASC" or "DESC"');
    }
  });

  it('rejects a non-object', () => {
    for (const input of ['-price', 5, [['price', 'ASC']]]) {
      expect(badRequest(() => parseOrder(input, orderFields)).details?.[0].constraint).toBe('type');
    }
  });
});

describe('parseOrderString', () => {
  it('reads the REST form: minus means DESC', () => {
    expect({ ...parseOrderString('-price,name') }).toEqual({ price: 'DESC', name: 'ASC' });
    expect(parseOrder(parseOrderString('-price,name'), orderFields)).toEqual([
      ['price', 'DESC'],
      ['name', 'ASC'],
    ]);
  });

  it('ignores empty segments and spaces, and accepts a leading +', () => {
    expect({ ...parseOrderString(',, -price , ,+name,') }).toEqual({ price: 'DESC', name: 'ASC' });
    expect({ ...parseOrderString('') }).toEqual({});
  });

  it('rejects a field named twice or no field at all', () => {
    expect(badRequest(() => parseOrderString('price,-price')).message).toBe('order names "price" twice');
    expect(badRequest(() => parseOrderString('name,-')).message).toBe('order: "-" names no field');
  });

  it('builds an object without a prototype, so __proto__ is just a key parseOrder rejects', () => {
    const order = parseOrderString('__proto__,-constructor');
    expect(Object.getPrototypeOf(order)).toBeNull();
    expect(Object.keys(order)).toEqual(['__proto__', 'constructor']);
    expect(Object.prototype).not.toHaveProperty('ASC');
    badRequest(() => parseOrder(order, orderFields));
  });
});
