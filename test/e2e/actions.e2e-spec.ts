// PROTOCOL.md section 3 (actions) over the WebSocket, end to end through a real app.
import { Agent, ChatHandlers, Gadget, Ledger, Memo, NoteActions, ProductActions, Task, Ticket } from '../fixtures/actions-fixtures.js';
import { Category, Hidden, NoteEntity, Product } from '../fixtures/entities.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

const ENTITIES = [Product, Category, NoteEntity, Hidden, Gadget, Memo, Ticket, Agent, Task, Ledger];
// One socket sends every request of this suite: lift the rate limit (section 6) out of the way.
const NO_RATE_LIMIT = { framesPerSecond: 1_000_000, burst: 1_000_000 };

let t: TestApp;
let s: TestSocket;
beforeAll(async () => {
  t = await startApp(ENTITIES, { limits: NO_RATE_LIMIT }, { providers: [ProductActions, ChatHandlers, NoteActions] });
  s = await TestSocket.open(t.ws);
});
afterAll(async () => {
  s.close();
  await t.close();
});

let counter = 0;
/** A product name no other test uses (Product.name is unique). */
const uniqueName = (base = 'Product') => `${base} ${++counter}`;

/** No stack trace, SQL text or driver error in anything sent to a client. */
function expectSafe(value: unknown): void {
  const text = JSON.stringify(value);
  expect(text).not.toMatch(/SELECT|INSERT|UPDATE "|DELETE FROM|SQLITE|sqlite|QueryFailed|constraint failed|\bat .+:\d+:\d+|\.ts:\d+|stack/);
}

/** Sends a request that must succeed; returns the reply data. */
async function ok(event: string, data?: unknown, socket = s): Promise<any> {
  const frame = await socket.request(event, data);
  if (frame.error) throw new Error(`${event} failed: ${JSON.stringify(frame.error)}`);
  expect(Object.keys(frame).sort()).toEqual(['data', 'event', 'id']);
  expect(frame.event).toBe(event);
  return frame.data;
}

/** Sends a request that must fail; returns the error (after checking it is safe to show). */
async function fail(event: string, data?: unknown, socket = s): Promise<{ code: string; message: string; details?: any[] }> {
  const frame = await socket.request(event, data);
  if (!frame.error) throw new Error(`${event} should have failed but answered ${JSON.stringify(frame.data)}`);
  expect(Object.keys(frame).sort()).toEqual(['error', 'event', 'id']);
  expect(frame.event).toBe(event);
  expect(typeof frame.error.message).toBe('string');
  expect(frame.error.message.length).toBeGreaterThan(0);
  expectSafe(frame.error);
  return frame.error;
}

const product = (fields: Record<string, unknown> = {}) => ok('shop.Product.create', { name: uniqueName(), price: 10, ...fields });
const detail = (error: { details?: any[] }, field: string) => (error.details ?? []).find((d) => d.field === field);
const PRODUCT_KEYS = ['categoryId', 'id', 'name', 'price', 'status', 'version'];

describe('retrieve', () => {
  it('answers the object with every exposed column, in a reply frame with the same event and id', async () => {
    const created = await product({ price: 42 });
    const frame = await s.request('shop.Product.retrieve', { id: created.id });
    expect(frame).toEqual({
      event: 'shop.Product.retrieve',
      id: frame.id,
      data: { id: created.id, name: created.name, price: 42, status: 'open', categoryId: null, version: 1 },
    });
  });

  it('echoes a string id verbatim', async () => {
    const created = await product();
    s.sendRaw(JSON.stringify({ event: 'shop.Product.retrieve', id: 'req-abc', data: { id: created.id } }));
    const frame = await s.waitFor((f) => f.id === 'req-abc');
    expect(frame.data.id).toBe(created.id);
  });

  it('answers not_found for an id that does not exist', async () => {
    const error = await fail('shop.Product.retrieve', { id: 987654 });
    expect(error.code).toBe('not_found');
    expect(error.message).toContain('987654');
  });

  it('answers bad_request without an id, with a non-integer id or with unknown members', async () => {
    expect((await fail('shop.Product.retrieve', {})).code).toBe('bad_request');
    expect((await fail('shop.Product.retrieve')).code).toBe('bad_request');
    expect((await fail('shop.Product.retrieve', { id: 'abc' })).code).toBe('bad_request');
    expect((await fail('shop.Product.retrieve', { id: { $gt: 0 } })).code).toBe('bad_request');
    const created = await product();
    const unknown = await fail('shop.Product.retrieve', { id: created.id, fields: ['name'] });
    expect(unknown.code).toBe('bad_request');
    expect(detail(unknown, 'fields')).toBeDefined();
  });
});

describe('create', () => {
  it('answers the created object with its generated id, defaults and version', async () => {
    const name = uniqueName('Lamp');
    const created = await ok('shop.Product.create', { name, price: 12 });
    expect(created).toEqual({ id: expect.any(Number), name, price: 12, status: 'open', categoryId: null, version: 1 });
    expect(await ok('shop.Product.retrieve', { id: created.id })).toEqual(created);
  });

  it('leaves out nullable, generated and defaulted columns, and takes them when given', async () => {
    const category = await ok('shop.Category.create', { title: 'Lights' });
    const created = await ok('shop.Product.create', { name: uniqueName(), price: 0, status: 'closed', categoryId: category.id });
    expect(created).toMatchObject({ price: 0, status: 'closed', categoryId: category.id });
  });

  it('lists every missing required field in details', async () => {
    const error = await fail('shop.Product.create', {});
    expect(error.code).toBe('bad_request');
    expect(detail(error, 'name')).toMatchObject({ field: 'name', constraint: expect.any(String), message: expect.any(String) });
    expect(detail(error, 'price')).toMatchObject({ field: 'price' });
    // status has a default, secret and categoryId are nullable, id and version are generated.
    for (const field of ['status', 'secret', 'categoryId', 'id', 'version']) expect(detail(error, field)).toBeUndefined();
    const one = await fail('shop.Product.create', { name: uniqueName() });
    expect(one.details!.map((d) => d.field)).toEqual(['price']);
  });

  it('reports every class-validator constraint broken, each with its field and constraint', async () => {
    const error = await fail('shop.Product.create', { name: 'x'.repeat(201), price: -1, status: 'weird' });
    expect(error.code).toBe('bad_request');
    expect(error.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'name', constraint: 'isLength' }),
        expect.objectContaining({ field: 'price', constraint: 'min' }),
        expect.objectContaining({ field: 'status', constraint: 'isIn' }),
      ]),
    );
    expect((await fail('shop.Product.create', { name: '', price: 1 })).details).toEqual([expect.objectContaining({ field: 'name', constraint: 'isLength' })]);
    expect((await fail('shop.Product.create', { name: uniqueName(), price: 1.5 })).details).toEqual([
      expect.objectContaining({ field: 'price', constraint: 'isInt' }),
    ]);
  });

  it('rejects values of the wrong type, huge numbers and nested garbage', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ price: 'abc' }, 'price'],
      [{ price: '12' }, 'price'],
      [{ price: 1e300 }, 'price'],
      [{ price: 2 ** 53 }, 'price'],
      [{ price: { $gt: 1 } }, 'price'],
      [{ price: [1] }, 'price'],
      [{ price: true }, 'price'],
      [{ price: null }, 'price'],
      [{ name: 123 }, 'name'],
      [{ name: { nested: { garbage: [1, { deeper: true }] } } }, 'name'],
      [{ name: ['a', 'b'] }, 'name'],
      [{ name: null }, 'name'],
      [{ status: null }, 'status'],
      [{ status: 7 }, 'status'],
      [{ categoryId: 'one' }, 'categoryId'],
      [{ categoryId: 1.5 }, 'categoryId'],
    ];
    const before = await t.dataSource.getRepository(Product).count();
    for (const [fields, field] of cases) {
      const error = await fail('shop.Product.create', { name: uniqueName(), price: 1, ...fields });
      expect([JSON.stringify(fields), error.code]).toEqual([JSON.stringify(fields), 'bad_request']);
      expect([JSON.stringify(fields), detail(error, field)]).toEqual([
        JSON.stringify(fields),
        expect.objectContaining({ field, constraint: expect.any(String) }),
      ]);
    }
    // Nothing of the above was written.
    expect(await t.dataSource.getRepository(Product).count()).toBe(before);
  });

  it('rejects objects and arrays in scalar columns of any type (decimal, bigint), takes JSON in JSON columns', async () => {
    for (const [fields, field] of [
      [{ amount: { a: 1 } }, 'amount'],
      [{ amount: [1, 2] }, 'amount'],
      [{ serial: { $gt: 1 } }, 'serial'],
      [{ serial: [1, 2] }, 'serial'],
      [{ tags: 'a,b' }, 'tags'],
      [{ tags: [{ a: 1 }] }, 'tags'],
    ] as const) {
      const error = await fail('desk.Ledger.create', { code: uniqueName('L'), cents: 1, ...fields });
      expect([fields, error.code]).toEqual([fields, 'bad_request']);
      expect(detail(error, field)).toBeDefined();
    }
    const created = await ok('desk.Ledger.create', {
      code: uniqueName('L'),
      cents: 1,
      amount: '12.50',
      meta: { nested: { deep: [1, 'two'] } },
      tags: ['a', 'b'],
    });
    expect(created).toMatchObject({ meta: { nested: { deep: [1, 'two'] } }, tags: ['a', 'b'] });
    expect(Number(created.amount)).toBe(12.5);
  });

  it('rejects data that is not an object of fields', async () => {
    for (const data of [undefined, null, 'Lamp', 42, [{ name: 'x', price: 1 }]]) {
      expect((await fail('shop.Product.create', data)).code).toBe('bad_request');
    }
  });

  it('rejects unknown properties, naming them', async () => {
    const error = await fail('shop.Product.create', { name: uniqueName(), price: 1, colour: 'red', __proto__x: 1 });
    expect(error.code).toBe('bad_request');
    expect(detail(error, 'colour')).toBeDefined();
    expect(detail(error, '__proto__x')).toBeDefined();
  });

  it('rejects __proto__ and constructor members instead of merging them', async () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const marker = `proto-${key}`;
      s.sendRaw(
        `{"event": "shop.Product.create", "id": "${marker}", "data": {"name": "${uniqueName()}", "price": 1, "${key}": {"price": -5, "status": "weird"}}}`,
      );
      const frame = await s.waitFor((f) => f.id === marker);
      expect([key, frame.error?.code]).toEqual([key, 'bad_request']);
    }
    s.sendRaw('{"event": "shop.Product.list", "id": "proto-filter", "data": {"filter": {"__proto__": {"price": 1}}}}');
    expect((await s.waitFor((f) => f.id === 'proto-filter')).error.code).toBe('bad_request');
  });

  it('rejects an id: clients never choose ids', async () => {
    const error = await fail('shop.Product.create', { id: 5000, name: uniqueName(), price: 1 });
    expect(error.code).toBe('bad_request');
    expect(detail(error, 'id')).toBeDefined();
    expect((await fail('shop.Product.retrieve', { id: 5000 })).code).toBe('not_found');
  });

  it('rejects generated columns such as the version and the create and delete dates', async () => {
    const error = await fail('shop.Product.create', { name: uniqueName(), price: 1, version: 7 });
    expect(error.code).toBe('bad_request');
    expect(detail(error, 'version')).toBeDefined();
    for (const field of ['createdAt', 'deletedAt']) {
      expect(detail(await fail('app.Note.create', { body: 'dates', [field]: '2020-01-01T00:00:00Z' }), field)).toBeDefined();
    }
    const note = await ok('app.Note.create', { body: 'undeletable by update' });
    expect(detail(await fail('app.Note.update', { id: note.id, deletedAt: '2020-01-01T00:00:00Z' }), 'deletedAt')).toBeDefined();
    expect(detail(await fail('app.Note.update', { id: note.id, createdAt: '2020-01-01T00:00:00Z' }), 'createdAt')).toBeDefined();
    expect(await ok('app.Note.retrieve', { id: note.id })).toEqual(note);
  });
});

describe('excluded columns', () => {
  it('are never sent out, whatever the action', async () => {
    const created = await product();
    await t.dataSource.getRepository(Product).update(created.id, { secret: 'xyzzy-hidden' });
    const replies = [
      created,
      await ok('shop.Product.retrieve', { id: created.id }),
      await ok('shop.Product.retrieve', { id: created.id, include: ['category'] }),
      await ok('shop.Product.list', { filter: { id: created.id } }),
      await ok('shop.Product.search', { filter: { id: created.id } }),
      await ok('shop.Product.update', { id: created.id, price: 11 }),
      await ok('shop.Product.save', { id: created.id, price: 12 }),
      await ok('shop.Product.delete', { id: created.id }),
    ];
    for (const reply of replies) {
      expect(JSON.stringify(reply)).not.toContain('secret');
      expect(JSON.stringify(reply)).not.toContain('xyzzy');
    }
    expect(Object.keys(replies[1]).sort()).toEqual(PRODUCT_KEYS);
  });

  it('are never writable, not even with null', async () => {
    for (const value of ['s3cret', null]) {
      const error = await fail('shop.Product.create', { name: uniqueName(), price: 1, secret: value });
      expect(error.code).toBe('bad_request');
      expect(detail(error, 'secret')).toBeDefined();
    }
    const created = await product();
    await t.dataSource.getRepository(Product).update(created.id, { secret: 'kept' });
    for (const event of ['shop.Product.update', 'shop.Product.save']) {
      const error = await fail(event, { id: created.id, secret: 'changed' });
      expect(error.code).toBe('bad_request');
      expect(detail(error, 'secret')).toBeDefined();
    }
    expect((await t.dataSource.getRepository(Product).findOneByOrFail({ id: created.id })).secret).toBe('kept');
  });

  it('can be neither filtered, ordered nor searched', async () => {
    const created = await product();
    await t.dataSource.getRepository(Product).update(created.id, { secret: 'needle-in-secret' });
    expect((await fail('shop.Product.list', { filter: { secret: 'needle-in-secret' } })).code).toBe('bad_request');
    expect((await fail('shop.Product.list', { filter: { secret: { isNull: false } } })).code).toBe('bad_request');
    expect((await fail('shop.Product.list', { order: { secret: 'ASC' } })).code).toBe('bad_request');
    expect((await ok('shop.Product.search', { q: 'needle-in-secret' })).count).toBe(0);
  });
});

describe('update', () => {
  it('answers the updated object; only the properties present are validated and written', async () => {
    const created = await product({ price: 5 });
    const updated = await ok('shop.Product.update', { id: created.id, price: 6 });
    expect(updated).toEqual({ ...created, price: 6, version: 2 });
    expect(await ok('shop.Product.retrieve', { id: created.id })).toEqual(updated);
  });

  it('uses the id only to name the row', async () => {
    const a = await product();
    const b = await product();
    const updated = await ok('shop.Product.update', { id: a.id, status: 'closed' });
    expect(updated.id).toBe(a.id);
    expect((await ok('shop.Product.retrieve', { id: b.id })).status).toBe('open');
  });

  it('answers not_found for an unknown id, and writes nothing', async () => {
    const before = (await ok('shop.Product.list', {})).count;
    const error = await fail('shop.Product.update', { id: 876543, price: 1 });
    expect(error.code).toBe('not_found');
    expect((await ok('shop.Product.list', {})).count).toBe(before);
  });

  it('needs an id', async () => {
    expect((await fail('shop.Product.update', { price: 1 })).code).toBe('bad_request');
    expect((await fail('shop.Product.update', { id: 'x', price: 1 })).code).toBe('bad_request');
  });

  it('validates what it is given: constraints, types, unknown and excluded properties', async () => {
    const created = await product({ price: 5 });
    const bad: Array<[Record<string, unknown>, string, string?]> = [
      [{ price: -1 }, 'price', 'min'],
      [{ status: 'weird' }, 'status', 'isIn'],
      [{ name: 'n'.repeat(201) }, 'name', 'isLength'],
      [{ price: 'cheap' }, 'price'],
      [{ price: 1e300 }, 'price'],
      [{ name: { a: { b: {} } } }, 'name'],
      [{ name: null }, 'name'],
      [{ colour: 'red' }, 'colour'],
      [{ secret: 'x' }, 'secret'],
    ];
    for (const [fields, field, constraint] of bad) {
      const error = await fail('shop.Product.update', { id: created.id, ...fields });
      expect(error.code).toBe('bad_request');
      expect(detail(error, field)).toMatchObject(constraint ? { field, constraint } : { field });
    }
    expect(await ok('shop.Product.retrieve', { id: created.id })).toEqual(created);
  });

  it('of two concurrent updates based on the same version, exactly one succeeds', async () => {
    const created = await product({ price: 1 });
    const replies = await Promise.all([20, 30, 40].map((price) => s.request('shop.Product.update', { id: created.id, price, version: 1 })));
    const succeeded = replies.filter((r) => r.data);
    expect(succeeded).toHaveLength(1);
    expect(replies.filter((r) => r.error?.code === 'conflict')).toHaveLength(2);
    expect(await ok('shop.Product.retrieve', { id: created.id })).toEqual({ ...created, price: succeeded[0].data.price, version: 2 });
  });

  it('answers conflict on a stale version and writes nothing; the right version succeeds', async () => {
    const created = await product({ price: 5 });
    expect(created.version).toBe(1);
    const first = await ok('shop.Product.update', { id: created.id, price: 6, version: 1 });
    expect(first).toMatchObject({ price: 6, version: 2 });
    const error = await fail('shop.Product.update', { id: created.id, price: 7, version: 1 });
    expect(error.code).toBe('conflict');
    expect(detail(error, 'version')).toBeDefined();
    expect(await ok('shop.Product.retrieve', { id: created.id })).toMatchObject({ price: 6, version: 2 });
    const saveError = await fail('shop.Product.save', { id: created.id, price: 8, version: 1 });
    expect(saveError.code).toBe('conflict');
    expect(await ok('shop.Product.retrieve', { id: created.id })).toMatchObject({ price: 6, version: 2 });
    expect(await ok('shop.Product.save', { id: created.id, price: 9, version: 2 })).toMatchObject({ price: 9, version: 3 });
    expect((await fail('shop.Product.update', { id: created.id, version: 'three' })).code).toBe('bad_request');
  });
});

describe('save', () => {
  it('creates when no id is given', async () => {
    const name = uniqueName('Saved');
    const saved = await ok('shop.Product.save', { name, price: 3 });
    expect(saved).toEqual({ id: expect.any(Number), name, price: 3, status: 'open', categoryId: null, version: 1 });
    expect(await ok('shop.Product.retrieve', { id: saved.id })).toEqual(saved);
  });

  it('updates when the id exists', async () => {
    const created = await product({ price: 3 });
    const saved = await ok('shop.Product.save', { id: created.id, price: 4, status: 'closed' });
    expect(saved).toEqual({ ...created, price: 4, status: 'closed', version: 2 });
  });

  it('answers not_found for an id that does not exist, and creates nothing', async () => {
    const name = uniqueName('Ghost');
    const error = await fail('shop.Product.save', { id: 765432, name, price: 1 });
    expect(error.code).toBe('not_found');
    expect((await ok('shop.Product.list', { filter: { name } })).count).toBe(0);
    expect((await fail('shop.Product.retrieve', { id: 765432 })).code).toBe('not_found');
  });

  it('validates as create without an id and as update with one', async () => {
    const missing = await fail('shop.Product.save', { name: uniqueName() });
    expect(missing.code).toBe('bad_request');
    expect(detail(missing, 'price')).toBeDefined();
    const created = await product();
    expect(await ok('shop.Product.save', { id: created.id, status: 'closed' })).toMatchObject({ status: 'closed' });
    expect(detail(await fail('shop.Product.save', { id: created.id, price: -5 }), 'price')).toMatchObject({ constraint: 'min' });
    expect(detail(await fail('shop.Product.save', { name: uniqueName(), price: 1, colour: 'red' }), 'colour')).toBeDefined();
  });
});

describe('delete', () => {
  it('answers {id} and the row is gone', async () => {
    const created = await product();
    expect(await ok('shop.Product.delete', { id: created.id })).toEqual({ id: created.id });
    expect((await fail('shop.Product.retrieve', { id: created.id })).code).toBe('not_found');
    expect(await t.dataSource.getRepository(Product).findOneBy({ id: created.id })).toBeNull();
    expect((await fail('shop.Product.delete', { id: created.id })).code).toBe('not_found');
  });

  it('needs an id and nothing else', async () => {
    expect((await fail('shop.Product.delete', {})).code).toBe('bad_request');
    const created = await product();
    expect((await fail('shop.Product.delete', { id: created.id, cascade: true })).code).toBe('bad_request');
    expect(await ok('shop.Product.retrieve', { id: created.id })).toEqual(created);
  });

  it('soft-deletes entities with a @DeleteDateColumn: hidden from retrieve, list, update and delete, kept in the table', async () => {
    const note = await ok('app.Note.create', { body: 'soft one' });
    expect(note).toEqual({ id: expect.any(Number), body: 'soft one', done: false, createdAt: expect.any(String), deletedAt: null });
    expect(await ok('app.Note.delete', { id: note.id })).toEqual({ id: note.id });
    expect((await fail('app.Note.retrieve', { id: note.id })).code).toBe('not_found');
    expect((await fail('app.Note.update', { id: note.id, done: true })).code).toBe('not_found');
    expect((await fail('app.Note.save', { id: note.id, done: true })).code).toBe('not_found');
    expect((await fail('app.Note.delete', { id: note.id })).code).toBe('not_found');
    const listed = await ok('app.Note.list', { filter: { body: 'soft one' } });
    expect(listed).toMatchObject({ count: 0, rows: [] });
    expect((await ok('app.Note.search', { q: 'soft one' })).count).toBe(0);
    const stored = await t.dataSource.getRepository(NoteEntity).findOne({ where: { id: note.id }, withDeleted: true });
    expect(stored?.deletedAt).toBeInstanceOf(Date);
    expect(stored?.done).toBe(false);
  });
});

describe('unique constraints', () => {
  it('answer conflict naming the field, with no SQL in the message, and write nothing', async () => {
    const name = uniqueName('Unique');
    await ok('shop.Product.create', { name, price: 1 });
    const error = await fail('shop.Product.create', { name, price: 2 });
    expect(error.code).toBe('conflict');
    expect(detail(error, 'name')).toMatchObject({ field: 'name', constraint: 'unique' });
    expect((await ok('shop.Product.list', { filter: { name } })).rows).toEqual([expect.objectContaining({ name, price: 1 })]);
  });

  it('apply to update and save as well', async () => {
    const taken = await product();
    const other = await product({ price: 3 });
    for (const event of ['shop.Product.update', 'shop.Product.save']) {
      const error = await fail(event, { id: other.id, name: taken.name, price: 4 });
      expect(error.code).toBe('conflict');
      expect(detail(error, 'name')).toBeDefined();
    }
    expect(await ok('shop.Product.retrieve', { id: other.id })).toEqual(other);
  });
});

describe('columns named differently in the database', () => {
  it('are written, read, filtered, ordered, searched and named in conflicts by their property', async () => {
    const a = await ok('desk.Ledger.create', { code: 'mapped-a', cents: 300 });
    const b = await ok('desk.Ledger.create', { code: 'mapped-b', cents: 100 });
    expect(a).toMatchObject({ code: 'mapped-a', cents: 300 });
    expect(JSON.stringify(a)).not.toMatch(/entry_code|cents_total/);
    const listed = await ok('desk.Ledger.list', { filter: { code: { like: 'mapped-%' }, cents: { gte: 100 } }, order: { cents: 'ASC' } });
    expect(listed.rows.map((r: any) => r.id)).toEqual([b.id, a.id]);
    expect((await ok('desk.Ledger.search', { q: 'MAPPED-B' })).rows.map((r: any) => r.id)).toEqual([b.id]);
    expect((await ok('desk.Ledger.update', { id: b.id, cents: 150 })).cents).toBe(150);
    const conflict = await fail('desk.Ledger.update', { id: b.id, code: 'mapped-a' });
    expect(conflict.code).toBe('conflict');
    expect(detail(conflict, 'code')).toMatchObject({ constraint: 'unique' });
    expect(JSON.stringify(conflict)).not.toContain('entry_code');
  });
});

describe('foreign keys', () => {
  it('are exposed, writable and filterable like any column', async () => {
    const category = await ok('shop.Category.create', { title: 'FK' });
    const created = await product({ categoryId: category.id });
    expect(created.categoryId).toBe(category.id);
    const listed = await ok('shop.Product.list', { filter: { categoryId: category.id } });
    expect(listed.rows.map((r: any) => r.id)).toEqual([created.id]);
    expect((await ok('shop.Product.update', { id: created.id, categoryId: null })).categoryId).toBeNull();
  });

  it('pointing at no row is a bad_request, not an internal error', async () => {
    const error = await fail('shop.Product.create', { name: uniqueName(), price: 1, categoryId: 999_999 });
    expect(error.code).toBe('bad_request');
  });
});

describe('list, search, filter, order, pagination', () => {
  // Seeded once; every query below is narrowed to them with `name like 'flt %'`.
  const seeds = [
    { name: 'flt Alpha Lamp', price: 5, status: 'open', cat: false },
    { name: 'flt beta lamp', price: 10, status: 'closed', cat: true },
    { name: 'flt Gamma Chair', price: 50, status: 'open', cat: true },
    { name: 'flt delta table', price: 100, status: 'closed', cat: false },
  ];
  let categoryId: number;
  beforeAll(async () => {
    categoryId = (await ok('shop.Category.create', { title: 'Furniture' })).id;
    for (const { cat, ...fields } of seeds) await ok('shop.Product.create', { ...fields, ...(cat ? { categoryId } : {}) });
  });

  const seeded = { name: { like: 'flt %' } };
  async function names(filter: Record<string, unknown>, extra: Record<string, unknown> = {}, action = 'list'): Promise<string[]> {
    const where = Object.keys(filter).length ? { $and: [seeded, filter] } : seeded;
    const reply = await ok(`shop.Product.${action}`, { filter: where, order: { name: 'ASC' }, ...extra });
    return reply.rows.map((row: any) => row.name.slice(4));
  }

  it('answers {page, limit, count, rows}', async () => {
    const reply = await ok('shop.Product.list', { filter: seeded, order: { price: 'ASC' } });
    expect(Object.keys(reply).sort()).toEqual(['count', 'limit', 'page', 'rows']);
    expect(reply).toMatchObject({ page: 1, limit: 25, count: 4 });
    expect(reply.rows.map((r: any) => r.price)).toEqual([5, 10, 50, 100]);
    for (const row of reply.rows) expect(Object.keys(row).sort()).toEqual(PRODUCT_KEYS);
  });

  it('filters with every operator', async () => {
    expect(await names({ status: 'open' })).toEqual(['Alpha Lamp', 'Gamma Chair']);
    expect(await names({ status: { eq: 'open' } })).toEqual(['Alpha Lamp', 'Gamma Chair']);
    expect(await names({ status: { ne: 'open' } })).toEqual(['beta lamp', 'delta table']);
    expect(await names({ price: { gt: 10 } })).toEqual(['Gamma Chair', 'delta table']);
    expect(await names({ price: { gte: 10 } })).toEqual(['Gamma Chair', 'beta lamp', 'delta table']);
    expect(await names({ price: { lt: 10 } })).toEqual(['Alpha Lamp']);
    expect(await names({ price: { lte: 10 } })).toEqual(['Alpha Lamp', 'beta lamp']);
    expect(await names({ price: { gte: 10, lt: 100 } })).toEqual(['Gamma Chair', 'beta lamp']);
    expect(await names({ price: { in: [5, 100, 7] } })).toEqual(['Alpha Lamp', 'delta table']);
    expect(await names({ price: { nin: [5, 100] } })).toEqual(['Gamma Chair', 'beta lamp']);
    expect(await names({ price: { in: [] } })).toEqual([]);
    expect(await names({ name: { like: '%lamp' } })).toEqual(['beta lamp']);
    expect(await names({ name: { like: 'flt _amma%' } })).toEqual(['Gamma Chair']);
    expect(await names({ name: { ilike: '%LAMP%' } })).toEqual(['Alpha Lamp', 'beta lamp']);
    expect(await names({ categoryId: { isNull: true } })).toEqual(['Alpha Lamp', 'delta table']);
    expect(await names({ categoryId: { isNull: false } })).toEqual(['Gamma Chair', 'beta lamp']);
    expect(await names({ categoryId: null })).toEqual(['Alpha Lamp', 'delta table']);
    expect(await names({ categoryId: { ne: null } })).toEqual(['Gamma Chair', 'beta lamp']);
    expect(await names({ categoryId })).toEqual(['Gamma Chair', 'beta lamp']);
  });

  it('filters and orders date and boolean columns', async () => {
    const a = await ok('app.Note.create', { body: 'dated a' });
    const b = await ok('app.Note.update', { id: (await ok('app.Note.create', { body: 'dated b' })).id, done: true });
    const past = new Date(Date.now() - 5_000).toISOString();
    const future = new Date(Date.now() + 5_000).toISOString();
    const dated = { body: { like: 'dated %' } };
    const ids = async (filter: Record<string, unknown>, order: Record<string, string> = { body: 'ASC' }) =>
      (await ok('app.Note.list', { filter: { $and: [dated, filter] }, order, limit: 3 })).rows.map((r: any) => r.id);
    expect(await ids({ createdAt: { gte: past } })).toEqual([a.id, b.id]);
    expect(await ids({ createdAt: { lt: past } })).toEqual([]);
    expect(await ids({ createdAt: { lte: future, gt: past } })).toEqual([a.id, b.id]);
    expect(await ids({ createdAt: { gt: future } })).toEqual([]);
    expect(await ids({ done: true })).toEqual([b.id]);
    expect(await ids({ done: { ne: true } })).toEqual([a.id]);
    expect(await ids({ deletedAt: { isNull: true } })).toEqual([a.id, b.id]);
    expect(await ids({ createdAt: { gte: past } }, { done: 'DESC', createdAt: 'ASC' })).toEqual([b.id, a.id]);
    expect((await fail('app.Note.list', { filter: { createdAt: { gte: 'last tuesday' } } })).code).toBe('bad_request');
    expect((await fail('app.Note.list', { filter: { done: 'yes' } })).code).toBe('bad_request');
    expect((await fail('app.Note.list', { filter: { done: { gt: false } } })).code).toBe('bad_request');
  });

  it('writes, reads and filters date columns as ISO 8601 instants', async () => {
    const due = '2030-05-01T10:00:00.000Z';
    const task = await ok('desk.Task.create', { title: 'Dated task', dueAt: '2030-05-01T12:00:00+02:00' });
    expect(task.dueAt).toBe(due);
    expect((await ok('desk.Task.retrieve', { id: task.id })).dueAt).toBe(due);
    const inRange = await ok('desk.Task.list', { filter: { dueAt: { gte: '2030-05-01T09:59:59Z', lt: '2030-05-01T10:00:01Z' } } });
    expect(inRange.rows.map((r: any) => r.id)).toEqual([task.id]);
    expect((await ok('desk.Task.list', { filter: { dueAt: due } })).rows.map((r: any) => r.id)).toEqual([task.id]);
    expect((await ok('desk.Task.list', { filter: { dueAt: { gt: due } } })).count).toBe(0);
    expect((await ok('desk.Task.update', { id: task.id, dueAt: null })).dueAt).toBeNull();
    for (const dueAt of ['soon', '2030-13-45', true, { at: 1 }]) {
      expect(detail(await fail('desk.Task.update', { id: task.id, dueAt }), 'dueAt')).toBeDefined();
    }
  });

  it('keeps values out of the SQL text', async () => {
    expect((await ok('shop.Product.list', { filter: { name: "x' OR '1'='1" } })).count).toBe(0);
    expect((await ok('shop.Product.list', { filter: { $and: [seeded, { name: { ilike: "%' OR 1=1 --" } }] } })).count).toBe(0);
    expect((await fail('shop.Product.list', { order: { 'name; DROP TABLE product': 'ASC' } })).code).toBe('bad_request');
    expect((await ok('shop.Product.list', { filter: seeded })).count).toBe(4);
  });

  it('combines filters with $or and $and', async () => {
    expect(await names({ $or: [{ price: 5 }, { status: 'closed', price: { gt: 50 } }] })).toEqual(['Alpha Lamp', 'delta table']);
    expect(await names({ $and: [{ status: 'open' }, { price: { gt: 5 } }] })).toEqual(['Gamma Chair']);
    expect(await names({ $or: [{ $and: [{ status: 'open' }, { price: { lt: 10 } }] }, { name: { ilike: '%TABLE' } }] })).toEqual(['Alpha Lamp', 'delta table']);
  });

  it('counts over all pages, with the filter applied', async () => {
    const reply = await ok('shop.Product.list', { filter: { $and: [seeded, { price: { gte: 10 } }] }, limit: 1, page: 2, order: { price: 'ASC' } });
    expect(reply).toMatchObject({ page: 2, limit: 1, count: 3 });
    expect(reply.rows.map((r: any) => r.price)).toEqual([50]);
  });

  it('allows 4 levels of nesting and refuses 5', async () => {
    const nest = (depth: number): Record<string, unknown> => (depth === 1 ? { price: 5 } : { $or: [nest(depth - 1)] });
    const four = await ok('shop.Product.list', { filter: { $and: [{ $or: [{ $and: [seeded, { price: 5 }] }] }] } });
    expect(four.count).toBe(1);
    expect((await ok('shop.Product.list', { filter: nest(4) })).rows.every((r: any) => r.price === 5)).toBe(true);
    const error = await fail('shop.Product.list', { filter: nest(5) });
    expect(error.code).toBe('bad_request');
    expect((await fail('shop.Product.search', { q: 'a', filter: nest(5) })).code).toBe('bad_request');
  });

  it('refuses unknown fields, unknown operators and values of the wrong type', async () => {
    const bad: unknown[] = [
      { colour: 'red' },
      { price: { regex: '.*' } },
      { price: { gt: 'ten' } },
      { price: 'ten' },
      { price: { in: 5 } },
      { price: { in: ['5'] } },
      { price: { like: '%5%' } },
      { status: { gt: {} } },
      { categoryId: { isNull: 'yes' } },
      { $not: [{ price: 5 }] },
      { $or: [] },
      { $or: { price: 5 } },
      'price = 5; DROP TABLE product',
      [{ price: 5 }],
    ];
    for (const filter of bad) {
      const error = await fail('shop.Product.list', { filter });
      expect([filter, error.code]).toEqual([filter, 'bad_request']);
    }
    expect((await ok('shop.Product.list', { filter: seeded })).count).toBe(4);
  });

  it('refuses fields outside filterFields', async () => {
    await ok('desk.Memo.create', { title: 'Groceries', body: 'milk and eggs', rank: 2 });
    expect((await ok('desk.Memo.list', { filter: { title: 'Groceries' } })).count).toBe(1);
    const error = await fail('desk.Memo.list', { filter: { body: 'milk and eggs' } });
    expect(error.code).toBe('bad_request');
    expect((await fail('desk.Memo.list', { filter: { rank: { gt: 1 } } })).code).toBe('bad_request');
  });

  it('orders by the given fields, in key order', async () => {
    await ok('shop.Product.create', { name: 'flt Epsilon', price: 50, status: 'closed' });
    const reply = await ok('shop.Product.list', { filter: seeded, order: { price: 'DESC', name: 'ASC' } });
    expect(reply.rows.map((r: any) => r.name.slice(4))).toEqual(['delta table', 'Epsilon', 'Gamma Chair', 'beta lamp', 'Alpha Lamp']);
    const asc = await ok('shop.Product.list', { filter: seeded, order: { status: 'asc', price: 'desc' } });
    expect(asc.rows.map((r: any) => r.name.slice(4))).toEqual(['delta table', 'Epsilon', 'beta lamp', 'Gamma Chair', 'Alpha Lamp']);
    await ok('shop.Product.delete', { id: reply.rows[1].id });
  });

  it('refuses order fields outside orderFields and bad directions', async () => {
    expect((await fail('shop.Product.list', { order: { colour: 'ASC' } })).code).toBe('bad_request');
    expect((await fail('shop.Product.list', { order: { price: 'sideways' } })).code).toBe('bad_request');
    expect((await fail('shop.Product.list', { order: ['price'] })).code).toBe('bad_request');
    expect((await fail('shop.Product.list', { order: 'price' })).code).toBe('bad_request');
    await ok('desk.Memo.create', { title: 'B memo', body: 'x', rank: 1 });
    await ok('desk.Memo.create', { title: 'A memo', body: 'y', rank: 3 });
    const memos = await ok('desk.Memo.list', { order: { title: 'DESC' } });
    expect(memos.rows.map((r: any) => r.title)).toEqual(['Groceries', 'B memo', 'A memo']);
    expect((await fail('desk.Memo.list', { order: { rank: 'ASC' } })).code).toBe('bad_request');
  });

  it('search: q is a case-insensitive contains over searchFields, combined with filter, order and pages', async () => {
    const lamp = await ok('shop.Product.search', { q: 'LAMP', filter: seeded, order: { price: 'DESC' } });
    expect(lamp).toMatchObject({ page: 1, limit: 25, count: 2 });
    expect(lamp.rows.map((r: any) => r.name)).toEqual(['flt beta lamp', 'flt Alpha Lamp']);
    // status is a string column too, so it is searched by default.
    expect(await names({}, { q: 'LOSE' }, 'search')).toEqual(['beta lamp', 'delta table']);
    expect(await names({ price: { gt: 10 } }, { q: 'l' }, 'search')).toEqual(['Gamma Chair', 'delta table']);
    const paged = await ok('shop.Product.search', { q: 'lamp', filter: seeded, order: { price: 'ASC' }, limit: 1, page: 2 });
    expect(paged).toMatchObject({ page: 2, limit: 1, count: 2 });
    expect(paged.rows.map((r: any) => r.price)).toEqual([10]);
    // Without q (or a blank one), search is a list.
    expect((await ok('shop.Product.search', { filter: seeded })).count).toBe(4);
    expect((await ok('shop.Product.search', { q: '   ', filter: seeded })).count).toBe(4);
  });

  it('search: q is literal text, not a pattern', async () => {
    expect((await ok('shop.Product.search', { q: '%', filter: seeded })).count).toBe(0);
    expect((await ok('shop.Product.search', { q: '_', filter: seeded })).count).toBe(0);
    expect((await ok('shop.Product.search', { q: "' OR 1=1 --", filter: seeded })).count).toBe(0);
    const odd = await ok('shop.Product.create', { name: 'flt 100% wool_rug', price: 70 });
    expect((await ok('shop.Product.search', { q: '100% WOOL_', filter: seeded })).rows.map((r: any) => r.id)).toEqual([odd.id]);
    await ok('shop.Product.delete', { id: odd.id });
  });

  it('search: only searchFields are searched', async () => {
    await ok('desk.Memo.create', { title: 'Reminder', body: 'call the plumber', rank: 1 });
    expect((await ok('desk.Memo.search', { q: 'PLUMBER' })).count).toBe(0);
    expect((await ok('desk.Memo.search', { q: 'remind' })).rows.map((r: any) => r.title)).toEqual(['Reminder']);
  });

  it('search and list refuse unknown members and a q that is not a string', async () => {
    expect((await fail('shop.Product.search', { q: 5 })).code).toBe('bad_request');
    expect((await fail('shop.Product.search', { q: { ilike: '%' } })).code).toBe('bad_request');
    expect((await fail('shop.Product.list', { q: 'lamp' })).code).toBe('bad_request');
    expect((await fail('shop.Product.list', { where: { price: 5 } })).code).toBe('bad_request');
    expect((await fail('shop.Product.list', 'all')).code).toBe('bad_request');
  });
});

describe('pagination (Note: pageSize 2, maxPageSize 3)', () => {
  const ids: number[] = [];
  beforeAll(async () => {
    for (let i = 1; i <= 7; i++) ids.push((await ok('app.Note.create', { body: `page ${i}` })).id);
  });
  const pageFilter = { body: { like: 'page %' } };

  it('pages start at 1 and limit defaults to the pageSize', async () => {
    const first = await ok('app.Note.list', { filter: pageFilter });
    expect(first).toMatchObject({ page: 1, limit: 2, count: 7 });
    expect(first.rows.map((r: any) => r.id)).toEqual(ids.slice(0, 2));
    const second = await ok('app.Note.list', { filter: pageFilter, page: 2 });
    expect(second).toMatchObject({ page: 2, limit: 2, count: 7 });
    expect(second.rows.map((r: any) => r.id)).toEqual(ids.slice(2, 4));
    const last = await ok('app.Note.list', { filter: pageFilter, page: 4 });
    expect(last.rows.map((r: any) => r.id)).toEqual(ids.slice(6));
  });

  it('a page past the end is empty and still counts', async () => {
    expect(await ok('app.Note.list', { filter: pageFilter, page: 9 })).toEqual({ page: 9, limit: 2, count: 7, rows: [] });
    expect(await ok('app.Note.list', { filter: { body: 'nothing like it' } })).toEqual({ page: 1, limit: 2, count: 0, rows: [] });
  });

  it('limit is clamped to maxPageSize', async () => {
    const reply = await ok('app.Note.list', { filter: pageFilter, limit: 50 });
    expect(reply).toMatchObject({ page: 1, limit: 3, count: 7 });
    expect(reply.rows).toHaveLength(3);
    const page3 = await ok('app.Note.list', { filter: pageFilter, limit: 3, page: 3 });
    expect(page3.rows.map((r: any) => r.id)).toEqual(ids.slice(6));
    expect((await ok('app.Note.search', { q: 'PAGE', limit: 1000 })).limit).toBe(3);
  });

  it('defaults to 25 and clamps to 100 when the binding sets nothing', async () => {
    for (let i = 0; i < 27; i++) await ok('desk.Memo.create', { title: `bulk ${i}`, body: '', rank: i });
    const reply = await ok('desk.Memo.list', { filter: { title: { like: 'bulk %' } } });
    expect(reply).toMatchObject({ page: 1, limit: 25, count: 27 });
    expect(reply.rows).toHaveLength(25);
    expect((await ok('desk.Memo.list', { limit: 1000 })).limit).toBe(100);
    expect((await ok('desk.Memo.list', { filter: { title: { like: 'bulk %' } }, page: 2 })).rows).toHaveLength(2);
  });

  it('refuses a page or limit that is not a positive integer', async () => {
    for (const bad of [
      { page: 0 },
      { page: -1 },
      { page: 1.5 },
      { page: 'two' },
      { page: 1e300 },
      { limit: 0 },
      { limit: -3 },
      { limit: 2.5 },
      { limit: [2] },
      { limit: 1e300 },
    ]) {
      const error = await fail('app.Note.list', bad);
      expect([bad, error.code]).toEqual([bad, 'bad_request']);
      expect(detail(error, Object.keys(bad)[0])).toBeDefined();
    }
  });
});

describe('include', () => {
  let category: any;
  let withCategory: any;
  let without: any;
  beforeAll(async () => {
    category = await ok('shop.Category.create', { title: 'Included' });
    withCategory = await product({ categoryId: category.id, name: uniqueName('inc') });
    without = await product({ name: uniqueName('inc') });
  });

  it('retrieve, list and search embed the named relation', async () => {
    expect(await ok('shop.Product.retrieve', { id: withCategory.id, include: ['category'] })).toEqual({
      ...withCategory,
      category: { id: category.id, title: 'Included' },
    });
    expect(await ok('shop.Product.retrieve', { id: without.id, include: ['category'] })).toEqual({ ...without, category: null });
    const listed = await ok('shop.Product.list', { filter: { name: { like: 'inc %' } }, order: { id: 'ASC' }, include: ['category'] });
    expect(listed.rows).toEqual([
      { ...withCategory, category: { id: category.id, title: 'Included' } },
      { ...without, category: null },
    ]);
    const searched = await ok('shop.Product.search', { q: withCategory.name, include: ['category'] });
    expect(searched.rows).toEqual([{ ...withCategory, category: { id: category.id, title: 'Included' } }]);
  });

  it('an included object goes through its own binding: its excluded columns stay out, its serialize applies', async () => {
    const [agent] = await t.dataSource.getRepository(Agent).save([{ name: 'ada', password: 'hunter2' }]);
    const task = await ok('desk.Task.create', { title: 'Triage', agentId: agent.id });
    const reply = await ok('desk.Task.retrieve', { id: task.id, include: ['agent'] });
    expect(reply).toEqual({ id: task.id, title: 'Triage', agentId: agent.id, dueAt: null, agent: { id: agent.id, name: 'ada', handle: '@ada' } });
    const listed = await ok('desk.Task.list', { filter: { agentId: agent.id }, include: ['agent'] });
    expect(JSON.stringify(listed)).not.toContain('hunter2');
    expect(listed.rows[0].agent).toEqual({ id: agent.id, name: 'ada', handle: '@ada' });
  });

  it('without include, relations are not embedded', async () => {
    expect(await ok('shop.Product.retrieve', { id: withCategory.id })).toEqual(withCategory);
  });

  it('refuses anything outside the binding option relations', async () => {
    for (const include of [['products'], ['secret'], ['name'], ['category', 'owner'], 'category', [{}]]) {
      const error = await fail('shop.Product.retrieve', { id: withCategory.id, include });
      expect([include, error.code]).toEqual([include, 'bad_request']);
      expect(detail(error, 'include')).toBeDefined();
    }
    expect((await fail('shop.Product.list', { include: ['owner'] })).code).toBe('bad_request');
    expect((await fail('shop.Product.search', { q: 'x', include: ['owner'] })).code).toBe('bad_request');
    // Category has a relation, but its binding names none.
    expect((await fail('shop.Category.retrieve', { id: category.id, include: ['products'] })).code).toBe('bad_request');
  });
});

describe('events that are not served', () => {
  it('unknown events answer unknown_event', async () => {
    for (const event of ['shop.Product.frobnicate', 'shop.Nope.list', 'nothing', 'shop.Product', 'app.Hidden.list', 'app.Hidden.create']) {
      const error = await fail(event, {});
      expect([event, error.code]).toEqual([event, 'unknown_event']);
    }
    expect(await t.dataSource.getRepository(Hidden).count()).toBe(0);
  });

  it('actions left out of the binding option actions answer unknown_event', async () => {
    const [row] = await t.dataSource.getRepository(Gadget).save([{ label: 'gizmo' }]);
    expect(await ok('shop.Gadget.retrieve', { id: row.id })).toEqual({ id: row.id, label: 'gizmo' });
    expect((await ok('shop.Gadget.list', {})).count).toBe(1);
    for (const action of ['search', 'create', 'update', 'save', 'delete', 'subscribe', 'unsubscribe']) {
      const error = await fail(`shop.Gadget.${action}`, action === 'create' ? { label: 'new' } : { id: row.id, label: 'changed' });
      expect([action, error.code]).toEqual([action, 'unknown_event']);
    }
    expect(await t.dataSource.getRepository(Gadget).find()).toEqual([{ id: row.id, label: 'gizmo' }]);
  });

  it('@Binding({ name }) names the stream; the default app is "app"', async () => {
    const note = await ok('app.Note.create', { body: 'named' });
    expect((await ok('app.Note.retrieve', { id: note.id })).body).toBe('named');
    expect((await fail('app.NoteEntity.retrieve', { id: note.id })).code).toBe('unknown_event');
    expect((await fail('shop.Note.retrieve', { id: note.id })).code).toBe('unknown_event');
  });
});

describe('createDto, updateDto and serialize', () => {
  it('validates create with createDto and update/save with updateDto', async () => {
    const created = await ok('desk.Ticket.create', { title: 'Printer jam', priority: 4 });
    expect(created).toEqual({ id: expect.any(Number), title: 'Printer jam', label: `#${created.id} Printer jam`, urgent: true });
    expect(detail(await fail('desk.Ticket.create', { title: 'ab', priority: 2 }), 'title')).toMatchObject({ constraint: 'isLength' });
    expect(detail(await fail('desk.Ticket.create', { title: 'Paper', priority: 6 }), 'priority')).toMatchObject({ constraint: 'max' });
    // 4 is fine for createDto, not for updateDto.
    expect(detail(await fail('desk.Ticket.update', { id: created.id, priority: 4 }), 'priority')).toMatchObject({ constraint: 'max' });
    expect(detail(await fail('desk.Ticket.save', { id: created.id, priority: 4 }), 'priority')).toMatchObject({ constraint: 'max' });
    expect(detail(await fail('desk.Ticket.update', { id: created.id, title: 'no' }), 'title')).toMatchObject({ constraint: 'isLength' });
    const updated = await ok('desk.Ticket.update', { id: created.id, priority: 1 });
    expect(updated).toEqual({ id: created.id, title: 'Printer jam', label: `#${created.id} Printer jam`, urgent: false });
    // save without id is a create: createDto applies.
    expect((await ok('desk.Ticket.save', { title: 'Toner', priority: 5 })).urgent).toBe(true);
  });

  it('serialize shapes every reply that carries the object', async () => {
    const created = await ok('desk.Ticket.create', { title: 'Serialized', priority: 2 });
    const expected = { id: created.id, title: 'Serialized', label: `#${created.id} Serialized`, urgent: false };
    expect(created).toEqual(expected);
    expect(await ok('desk.Ticket.retrieve', { id: created.id })).toEqual(expected);
    expect((await ok('desk.Ticket.list', { filter: { id: created.id } })).rows).toEqual([expected]);
    expect((await ok('desk.Ticket.search', { q: 'serialized' })).rows).toEqual([expected]);
    expect(await ok('desk.Ticket.delete', { id: created.id })).toEqual({ id: created.id });
  });
});

describe('subscribe and unsubscribe replies', () => {
  it("answer {room} (and the room's seq for subscribe)", async () => {
    const socket = await TestSocket.open(t.ws);
    try {
      const created = await product();
      expect(await ok('shop.Product.subscribe', { id: created.id }, socket)).toEqual({ room: `shop.Product:${created.id}`, seq: 0 });
      expect(await ok('shop.Product.subscribe', {}, socket)).toEqual({ room: 'shop.Product', seq: expect.any(Number) });
      const filtered = await ok('shop.Product.subscribe', { filter: { price: { gte: 10 }, status: 'open' } }, socket);
      expect(filtered.room).toMatch(/^shop\.Product\?.+/);
      expect(await ok('shop.Product.subscribe', { filter: { status: 'open', price: { gte: 10 } } }, socket)).toEqual(filtered);
      expect(await ok('shop.Product.unsubscribe', { room: filtered.room }, socket)).toEqual({ room: filtered.room });
      expect(await ok('shop.Product.unsubscribe', { id: created.id }, socket)).toEqual({ room: `shop.Product:${created.id}` });
      expect(await ok('shop.Product.unsubscribe', {}, socket)).toEqual({ room: 'shop.Product' });
      expect((await fail('shop.Product.subscribe', { id: 999_999 }, socket)).code).toBe('not_found');
      expect((await fail('shop.Product.subscribe', { filter: { secret: 'x' } }, socket)).code).toBe('bad_request');
    } finally {
      socket.close();
    }
  });
});

describe('custom events', () => {
  it('@BindingAction serves <app>.<Model>.<action> with (data, ctx)', async () => {
    const frame = await s.request('shop.Product.publish', { id: 7 });
    expect(frame).toEqual({
      event: 'shop.Product.publish',
      id: frame.id,
      data: { published: 7, ctx: { user: null, hasSocket: true, socketIsOpen: true, id: frame.id } },
    });
  });

  it('@BindingAction with a dto validates the data like a CRUD write (every problem in details) and hands over an instance', async () => {
    expect(await ok('shop.Product.discount', { id: 3, percent: 20 })).toEqual({ isDto: true, id: 3, percent: 20, reason: null });
    const invalid = await fail('shop.Product.discount', { id: 0, percent: 95, reason: '', colour: 'red' });
    expect(invalid.code).toBe('bad_request');
    expect(invalid.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'id', constraint: 'min' }),
        expect.objectContaining({ field: 'percent', constraint: 'max' }),
        expect.objectContaining({ field: 'reason', constraint: 'isLength' }),
        expect.objectContaining({ field: 'colour', constraint: 'whitelistValidation' }),
      ]),
    );
    expect((await fail('shop.Product.discount', 'twenty')).code).toBe('bad_request');
    // The same over REST.
    const rest = await http(t.http, 'POST', '/api/shop/Product/discount', { id: 3, percent: 'lots' });
    expect(rest.status).toBe(400);
    expect(rest.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'percent', constraint: 'isInt' })]));
    expect(rest.body.error.details.every((detail: { field: string }) => detail.field === 'percent')).toBe(true);
  });

  it('@OnStream serves an arbitrary event; ctx.id is the frame id, verbatim', async () => {
    s.sendRaw(JSON.stringify({ event: 'chat.send', id: 'abc-1', data: { text: 'hi' } }));
    const frame = await s.waitFor((f) => f.id === 'abc-1');
    expect(frame).toEqual({
      event: 'chat.send',
      id: 'abc-1',
      data: { echo: { text: 'hi' }, ctx: { user: null, hasSocket: true, socketIsOpen: true, id: 'abc-1' } },
    });
  });

  it('a frame without id gets a reply without id, and the handler sees ctx.id undefined', async () => {
    s.sendRaw(JSON.stringify({ event: 'chat.send', data: 'no-id-marker' }));
    const frame = await s.waitFor((f) => f.event === 'chat.send' && f.data?.echo === 'no-id-marker');
    expect(frame).toEqual({ event: 'chat.send', data: { echo: 'no-id-marker', ctx: { user: null, hasSocket: true, socketIsOpen: true, id: '(undefined)' } } });
  });

  it('@BindingAction follows the stream name of @Binding({ name }); HttpExceptions keep their meaning', async () => {
    const note = await ok('app.Note.create', { body: 'to archive' });
    expect(await ok('app.Note.archive', { id: note.id })).toEqual({ archived: note.id });
    expect((await ok('app.Note.retrieve', { id: note.id })).done).toBe(true);
    const missing = await fail('app.Note.archive', { id: 999_999 });
    expect(missing).toMatchObject({ code: 'not_found', message: 'Note 999999 does not exist' });
    expect((await fail('app.NoteEntity.archive', { id: note.id })).code).toBe('unknown_event');
  });

  it('a handler throwing a plain Error answers internal with a generic message', async () => {
    const error = await fail('chat.crash', {});
    expect(error.code).toBe('internal');
    expect(error.message).not.toMatch(/password|audit|syntax/);
    expect(error.details).toBeUndefined();
  });

  it("a handler throwing Nest's ForbiddenException answers forbidden", async () => {
    const error = await fail('chat.forbid', {});
    expect(error).toMatchObject({ code: 'forbidden', message: 'Members only' });
  });

  it('the socket stays usable after errors', async () => {
    await fail('chat.crash', {});
    expect((await ok('chat.send', 1)).echo).toBe(1);
  });
});

describe('errors never leak internals', () => {
  it('no stack trace, SQL or driver text in any error reply seen on the socket', async () => {
    await settle(50);
    const errors = s.frames.filter((f) => f.error);
    expect(errors.length).toBeGreaterThan(50);
    for (const frame of errors) expectSafe(frame.error);
  });
});

describe('autoSubscribe', () => {
  it('retrieve subscribes to the object; at subscriptionsPerSocket the least recently used auto-subscription is dropped', async () => {
    const app = await startApp(ENTITIES, { limits: { ...NO_RATE_LIMIT, subscriptionsPerSocket: 3 } });
    const reader = await TestSocket.open(app.ws);
    const writer = await TestSocket.open(app.ws);
    try {
      const ids: number[] = [];
      for (let i = 0; i < 6; i++) ids.push((await writer.request('shop.Product.create', { name: `auto ${i}`, price: i })).data.id);
      expect((await reader.request('shop.Product.subscribe', { id: ids[0] })).data).toEqual({ room: `shop.Product:${ids[0]}`, seq: 0 });
      // Five retrieves with room for two auto-subscriptions: none fails.
      for (const id of ids.slice(1)) expect((await reader.request('shop.Product.retrieve', { id })).data.id).toBe(id);
      for (const id of [ids[0], ids[1], ids[5]]) await writer.request('shop.Product.update', { id, price: 100 + id });
      await settle();
      const rooms = reader.pushes().map((p) => p.room);
      expect(rooms).toContain(`shop.Product:${ids[0]}`); // explicit: never dropped
      expect(rooms).toContain(`shop.Product:${ids[5]}`); // most recent auto-subscription
      expect(rooms).not.toContain(`shop.Product:${ids[1]}`); // least recently used: dropped
      expect(writer.pushes()).toEqual([]); // create and update do not auto-subscribe by default
      // Explicit subscriptions take the place of auto ones; only explicit ones can fill the limit.
      // ids[1]'s room outlived its dropped auto-subscription (replay window) and counted its update.
      expect((await reader.request('shop.Product.subscribe', { id: ids[1] })).data).toEqual({ room: `shop.Product:${ids[1]}`, seq: 1 });
      expect((await reader.request('shop.Product.subscribe', { id: ids[2] })).data).toEqual({ room: `shop.Product:${ids[2]}`, seq: 0 });
      expect((await reader.request('shop.Product.subscribe', { id: ids[3] })).error.code).toBe('bad_request');
      // A retrieve still never fails at the limit.
      expect((await reader.request('shop.Product.retrieve', { id: ids[4] })).data.id).toBe(ids[4]);
    } finally {
      reader.close();
      writer.close();
      await app.close();
    }
  });
});
