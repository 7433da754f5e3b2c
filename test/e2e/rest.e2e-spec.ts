// PROTOCOL.md section 5 (REST), without SSE and the OpenAPI document: same bindings,
// same validation and same errors as the WebSocket, with HTTP status codes.
import { Controller, Get, Injectable, Module, Param, type DynamicModule, type Type } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BindingsModule,
  DuplicateBindingsModuleException,
  InvalidOptionsException,
  type BindingsModuleOptions,
  type BindingsOptionsFactory,
} from '../../lib/index.js';
import { ChatHandlers, Gadget, Memo, NoteActions, ProductActions, Ticket } from '../fixtures/actions-fixtures.js';
import { Category, Hidden, NoteEntity, Product } from '../fixtures/entities.js';
import { createApp, http, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

const ENTITIES = [Product, Category, NoteEntity, Hidden, Gadget, Memo, Ticket];

let t: TestApp;
beforeAll(async () => {
  t = await startApp(ENTITIES, {}, { providers: [ProductActions, ChatHandlers, NoteActions] });
});
afterAll(() => t.close());

let counter = 0;
const uniqueName = (base = 'Rest') => `${base} ${++counter}`;
const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => http(t.http, method, path, body, headers);
const q = (value: unknown) => encodeURIComponent(JSON.stringify(value));

/** An error answer: the status, and a body that is exactly `{"error": {code, message, details?}}` with nothing internal in it. */
function expectError(res: { status: number; body: any }, status: number, code: string): { code: string; message: string; details?: any[] } {
  expect([res.status, res.body]).toEqual([status, { error: expect.objectContaining({ code, message: expect.any(String) }) }]);
  const keys = Object.keys(res.body.error).sort();
  expect(keys.filter((k) => k !== 'details')).toEqual(['code', 'message']);
  if (res.body.error.details !== undefined) expect(Array.isArray(res.body.error.details)).toBe(true);
  expect(JSON.stringify(res.body)).not.toMatch(/SELECT|INSERT|UPDATE "|SQLITE|sqlite|QueryFailed|constraint failed|\bat .+:\d+:\d+|\.ts:\d+|stack|statusCode/);
  return res.body.error;
}

async function createProduct(fields: Record<string, unknown> = {}): Promise<any> {
  const res = await call('POST', '/api/shop/Product', { name: uniqueName(), price: 10, ...fields });
  expect(res.status).toBe(201);
  return res.body;
}

describe('CRUD routes', () => {
  it('POST /api/<app>/<Model> creates: 201 with the created object', async () => {
    const name = uniqueName('Lamp');
    const res = await call('POST', '/api/shop/Product', { name, price: 12 });
    expect(res).toEqual({ status: 201, body: { id: expect.any(Number), name, price: 12, status: 'open', categoryId: null, version: 1 } });
  });

  it('GET /api/<app>/<Model>/:id retrieves: 200 with the object, include= embeds a relation', async () => {
    const category = (await call('POST', '/api/shop/Category', { title: 'Desks' })).body;
    const created = await createProduct({ categoryId: category.id });
    expect(await call('GET', `/api/shop/Product/${created.id}`)).toEqual({ status: 200, body: created });
    expect(await call('GET', `/api/shop/Product/${created.id}?include=category`)).toEqual({
      status: 200,
      body: { ...created, category: { id: category.id, title: 'Desks' } },
    });
  });

  it('PATCH /api/<app>/<Model>/:id updates: 200 with the updated object; the path names the row', async () => {
    const created = await createProduct({ price: 3 });
    const other = await createProduct({ price: 4 });
    const res = await call('PATCH', `/api/shop/Product/${created.id}`, { price: 5, status: 'closed' });
    expect(res).toEqual({ status: 200, body: { ...created, price: 5, status: 'closed', version: 2 } });
    expect((await call('GET', `/api/shop/Product/${other.id}`)).body).toEqual(other);
  });

  it('PUT /api/<app>/<Model>/:id saves: 200 with the object; an id that does not exist is 404 and creates nothing', async () => {
    const created = await createProduct({ price: 3 });
    expect(await call('PUT', `/api/shop/Product/${created.id}`, { price: 8 })).toEqual({ status: 200, body: { ...created, price: 8, version: 2 } });
    const name = uniqueName('Ghost');
    expectError(await call('PUT', '/api/shop/Product/654321', { name, price: 1 }), 404, 'not_found');
    expect((await call('GET', `/api/shop/Product?filter=${q({ name })}`)).body.count).toBe(0);
  });

  it('DELETE /api/<app>/<Model>/:id deletes: 200 with {id}', async () => {
    const created = await createProduct();
    expect(await call('DELETE', `/api/shop/Product/${created.id}`)).toEqual({ status: 200, body: { id: created.id } });
    expectError(await call('GET', `/api/shop/Product/${created.id}`), 404, 'not_found');
    expectError(await call('DELETE', `/api/shop/Product/${created.id}`), 404, 'not_found');
  });

  it('DELETE soft-deletes entities with a @DeleteDateColumn', async () => {
    const note = (await call('POST', '/api/app/Note', { body: 'rest soft' })).body;
    expect(await call('DELETE', `/api/app/Note/${note.id}`)).toEqual({ status: 200, body: { id: note.id } });
    expectError(await call('GET', `/api/app/Note/${note.id}`), 404, 'not_found');
    expect((await call('GET', `/api/app/Note?filter=${q({ body: 'rest soft' })}`)).body.count).toBe(0);
    expect(await t.dataSource.getRepository(NoteEntity).findOne({ where: { id: note.id }, withDeleted: true })).toMatchObject({ deletedAt: expect.any(Date) });
  });

  it('serialize and the DTOs apply over REST too', async () => {
    const res = await call('POST', '/api/desk/Ticket', { title: 'Over REST', priority: 4 });
    expect(res).toEqual({ status: 201, body: { id: expect.any(Number), title: 'Over REST', label: `#${res.body.id} Over REST`, urgent: true } });
    const error = expectError(await call('PATCH', `/api/desk/Ticket/${res.body.id}`, { priority: 4 }), 400, 'bad_request');
    expect(error.details).toEqual([expect.objectContaining({ field: 'priority', constraint: 'max' })]);
  });
});

describe('GET /api/<app>/<Model>: list', () => {
  beforeAll(async () => {
    const category = (await call('POST', '/api/shop/Category', { title: 'Listed' })).body;
    for (const [name, price, cat] of [
      ['lst a', 30, true],
      ['lst b', 10, false],
      ['lst c', 30, false],
      ['lst d', 20, true],
    ] as const) {
      await createProduct({ name, price, ...(cat ? { categoryId: category.id } : {}) });
    }
  });
  const listed = { name: { like: 'lst %' } };

  it('takes page, limit, order=-price,name, filter=<json> and include=category', async () => {
    const res = await call('GET', `/api/shop/Product?page=1&limit=3&order=-price,name&filter=${q(listed)}&include=category`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ page: 1, limit: 3, count: 4 });
    expect(res.body.rows.map((r: any) => [r.name, r.price, r.category?.title ?? null])).toEqual([
      ['lst a', 30, 'Listed'],
      ['lst c', 30, null],
      ['lst d', 20, 'Listed'],
    ]);
    const page2 = await call('GET', `/api/shop/Product?page=2&limit=3&order=-price,name&filter=${q(listed)}`);
    expect(page2.body).toMatchObject({ page: 2, limit: 3, count: 4 });
    expect(page2.body.rows.map((r: any) => r.name)).toEqual(['lst b']);
    expect(page2.body.rows[0].category).toBeUndefined();
  });

  it('filters with operators and combinators given as JSON', async () => {
    const res = await call(
      'GET',
      `/api/shop/Product?order=name&filter=${q({ $and: [listed, { $or: [{ price: { lt: 15 } }, { price: { gte: 30 }, categoryId: { isNull: true } }] }] })}`,
    );
    expect(res.body.rows.map((r: any) => r.name)).toEqual(['lst b', 'lst c']);
  });

  it('defaults to page 1 and the pageSize, and clamps limit to maxPageSize', async () => {
    expect((await call('GET', '/api/shop/Product')).body).toMatchObject({ page: 1, limit: 25 });
    expect((await call('GET', '/api/shop/Product?limit=1000')).body).toMatchObject({ limit: 100 });
    expect((await call('GET', '/api/app/Note?limit=1000')).body).toMatchObject({ limit: 3 });
    expect((await call('GET', '/api/app/Note')).body).toMatchObject({ limit: 2 });
  });

  it('answers 400 for bad parameters', async () => {
    const bad = [
      'page=0',
      'page=two',
      'limit=0',
      'limit=-1',
      'order=secret',
      'order=colour',
      'order=-',
      'order=price,-price',
      'filter=not-json',
      `filter=${q({ secret: 'x' })}`,
      `filter=${q({ price: { regex: 1 } })}`,
      `filter=${q([1])}`,
      'include=owner',
      'include=category,products',
      'page=1&page=2',
    ];
    for (const query of bad) {
      const res = await call('GET', `/api/shop/Product?${query}`);
      expect([query, res.status, res.body?.error?.code]).toEqual([query, 400, 'bad_request']);
      expectError(res, 400, 'bad_request');
    }
  });

  it('tells the fix: an unknown parameter is refused with the one it resembles, "price desc" points to -price', async () => {
    const typo = expectError(await call('GET', `/api/shop/Product?fitler=${q({ price: 1 })}`), 400, 'bad_request');
    expect(typo.message).toMatch(/Unknown query parameter fitler; did you mean filter\?/);
    expect(typo.details).toEqual([expect.objectContaining({ field: 'fitler', constraint: 'whitelist' })]);
    expectError(await call('GET', '/api/shop/Product/1?includes=category'), 400, 'bad_request');
    const spoken = expectError(await call('GET', `/api/shop/Product?order=${encodeURIComponent('price desc')}`), 400, 'bad_request');
    expect(spoken.message).toContain('write -price for "price desc"');
    const ascending = expectError(await call('GET', `/api/shop/Product?order=${encodeURIComponent('name ASC')}`), 400, 'bad_request');
    expect(ascending.message).toContain('write name for "name ASC"');
    // Parameters of the application (a token that authenticate reads, a cache buster) still pass.
    expect((await call('GET', '/api/shop/Product?token=abc&_=123&limit=1')).status).toBe(200);
  });

  it('a filter nested 5 deep is 400, 4 deep is fine', async () => {
    const nest = (depth: number): Record<string, unknown> => (depth === 1 ? { price: 10 } : { $or: [nest(depth - 1)] });
    expect((await call('GET', `/api/shop/Product?filter=${q(nest(4))}`)).status).toBe(200);
    expectError(await call('GET', `/api/shop/Product?filter=${q(nest(5))}`), 400, 'bad_request');
  });
});

describe('POST /api/<app>/<Model>/search', () => {
  it('takes the body of the search action', async () => {
    await createProduct({ name: 'srch Big LAMP', price: 7 });
    await createProduct({ name: 'srch small lamp', price: 9 });
    await createProduct({ name: 'srch chair', price: 8 });
    const res = await call('POST', '/api/shop/Product/search', {
      q: 'Lamp',
      filter: { name: { like: 'srch %' } },
      order: { price: 'DESC' },
      page: 1,
      limit: 10,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ page: 1, limit: 10, count: 2 });
    expect(res.body.rows.map((r: any) => r.name)).toEqual(['srch small lamp', 'srch Big LAMP']);
    const included = await call('POST', '/api/shop/Product/search', { q: 'srch chair', include: ['category'] });
    expect(included.body.rows).toEqual([expect.objectContaining({ name: 'srch chair', category: null })]);
  });

  it('answers 400 for bad input', async () => {
    expectError(await call('POST', '/api/shop/Product/search', { q: 3 }), 400, 'bad_request');
    expectError(await call('POST', '/api/shop/Product/search', { q: 'x', include: ['owner'] }), 400, 'bad_request');
    expectError(await call('POST', '/api/shop/Product/search', { q: 'x', bogus: true }), 400, 'bad_request');
  });
});

describe('custom actions and POST /api/events', () => {
  it('POST /api/<app>/<Model>/<action> serves a @BindingAction: 200, ctx without socket or id', async () => {
    const res = await call('POST', '/api/shop/Product/publish', { id: 3 });
    expect(res).toEqual({ status: 200, body: { published: 3, ctx: { user: null, hasSocket: false, socketIsOpen: false, id: '(undefined)' } } });
  });

  it('custom actions of a renamed binding are served at its route; their HttpExceptions keep their status', async () => {
    const note = (await call('POST', '/api/app/Note', { body: 'rest archive' })).body;
    expect(await call('POST', '/api/app/Note/archive', { id: note.id })).toEqual({ status: 200, body: { archived: note.id } });
    expect((await call('GET', `/api/app/Note/${note.id}`)).body.done).toBe(true);
    expectError(await call('POST', '/api/app/Note/archive', { id: 999_999 }), 404, 'not_found');
    expectError(await call('POST', '/api/app/NoteEntity/archive', { id: note.id }), 404, 'unknown_event');
  });

  it('POST /api/events serves any event with 200 and the reply data', async () => {
    expect(await call('POST', '/api/events', { event: 'chat.send', data: { text: 'hi' } })).toEqual({
      status: 200,
      body: { echo: { text: 'hi' }, ctx: { user: null, hasSocket: false, socketIsOpen: false, id: '(undefined)' } },
    });
    expect((await call('POST', '/api/events', { event: 'shop.Product.publish', data: { id: 4 } })).body).toMatchObject({ published: 4 });
    const name = uniqueName('Evented');
    const created = await call('POST', '/api/events', { event: 'shop.Product.create', data: { name, price: 2 } });
    expect(created).toEqual({ status: 200, body: { id: expect.any(Number), name, price: 2, status: 'open', categoryId: null, version: 1 } });
    expect(await call('POST', '/api/events', { event: 'shop.Product.retrieve', data: { id: created.body.id } })).toEqual({ status: 200, body: created.body });
    expect((await call('POST', '/api/events', { event: 'shop.Product.list', data: { filter: { name } } })).body).toMatchObject({ count: 1 });
    expect(await call('POST', '/api/events', { event: 'shop.Product.delete', data: { id: created.body.id } })).toEqual({
      status: 200,
      body: { id: created.body.id },
    });
  });

  it('a reply of any JSON type is the JSON body, as over the WebSocket', async () => {
    const post = (body: unknown) =>
      fetch(t.http + '/api/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (const data of ['hello', '', 0, 5, true, false, null, [1, 'a'], { a: null }]) {
      const res = await post({ event: 'chat.raw', data });
      expect([data, res.status, res.headers.get('content-type'), JSON.parse(await res.text())]).toEqual([
        data,
        200,
        expect.stringMatching(/^application\/json/),
        data,
      ]);
    }
    const res = await post({ event: 'chat.raw' });
    expect([res.status, res.headers.get('content-type'), await res.text()]).toEqual([200, expect.stringMatching(/^application\/json/), 'null']);
  });

  it('POST /api/events answers errors like the routes', async () => {
    expectError(await call('POST', '/api/events', { event: 'shop.Product.frobnicate', data: {} }), 404, 'unknown_event');
    expectError(await call('POST', '/api/events', { event: 'shop.Product.retrieve', data: { id: 123456 } }), 404, 'not_found');
    expectError(await call('POST', '/api/events', { event: 'shop.Product.create', data: { price: -1 } }), 400, 'bad_request');
    expectError(await call('POST', '/api/events', { data: {} }), 400, 'bad_request');
    expectError(await call('POST', '/api/events', { event: 42 }), 400, 'bad_request');
    expectError(await call('POST', '/api/events', [{ event: 'chat.send' }]), 400, 'bad_request');
  });

  it('a handler throwing a plain Error is 500 internal with a generic message', async () => {
    const error = expectError(await call('POST', '/api/events', { event: 'chat.crash', data: {} }), 500, 'internal');
    expect(error.message).not.toMatch(/password|audit|syntax/);
  });

  it("a handler throwing Nest's ForbiddenException is 403 forbidden", async () => {
    expect(expectError(await call('POST', '/api/events', { event: 'chat.forbid' }), 403, 'forbidden').message).toBe('Members only');
  });

  it('an unknown action or model is 404 unknown_event', async () => {
    expectError(await call('POST', '/api/shop/Product/frobnicate', {}), 404, 'unknown_event');
    expectError(await call('GET', '/api/shop/Nope'), 404, 'unknown_event');
    expectError(await call('GET', '/api/shop/Nope/1'), 404, 'unknown_event');
    expectError(await call('POST', '/api/shop/Nope', { name: 'x' }), 404, 'unknown_event');
    expectError(await call('GET', '/api/app/Hidden'), 404, 'unknown_event');
    expectError(await call('GET', '/api/app/NoteEntity'), 404, 'unknown_event');
  });

  it('actions left out of the binding option actions are 404 unknown_event', async () => {
    const [gadget] = await t.dataSource.getRepository(Gadget).save([{ label: 'rest gizmo' }]);
    expect(await call('GET', `/api/shop/Gadget/${gadget.id}`)).toEqual({ status: 200, body: { id: gadget.id, label: 'rest gizmo' } });
    expectError(await call('POST', '/api/shop/Gadget', { label: 'new' }), 404, 'unknown_event');
    expectError(await call('PATCH', `/api/shop/Gadget/${gadget.id}`, { label: 'x' }), 404, 'unknown_event');
    expectError(await call('PUT', `/api/shop/Gadget/${gadget.id}`, { label: 'x' }), 404, 'unknown_event');
    expectError(await call('DELETE', `/api/shop/Gadget/${gadget.id}`), 404, 'unknown_event');
    expectError(await call('POST', '/api/shop/Gadget/search', {}), 404, 'unknown_event');
    expect(await t.dataSource.getRepository(Gadget).findOneBy({ id: gadget.id })).toEqual({ id: gadget.id, label: 'rest gizmo' });
  });
});

describe('errors and their status codes', () => {
  it('bad_request is 400 with details per field', async () => {
    const error = expectError(
      await call('POST', '/api/shop/Product', { name: 'x'.repeat(201), price: -1, status: 'weird', colour: 'red' }),
      400,
      'bad_request',
    );
    expect(error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'colour' })]));
    const constraints = expectError(await call('POST', '/api/shop/Product', { name: 'x'.repeat(201), price: -1, status: 'weird' }), 400, 'bad_request');
    expect(constraints.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'name', constraint: 'isLength' }),
        expect.objectContaining({ field: 'price', constraint: 'min' }),
        expect.objectContaining({ field: 'status', constraint: 'isIn' }),
      ]),
    );
    const missing = expectError(await call('POST', '/api/shop/Product', {}), 400, 'bad_request');
    expect(missing.details!.map((d) => d.field).sort()).toEqual(['name', 'price']);
    expect(expectError(await call('POST', '/api/shop/Product', { id: 77, name: uniqueName(), price: 1 }), 400, 'bad_request').details).toEqual([
      expect.objectContaining({ field: 'id' }),
    ]);
    expectError(await call('POST', '/api/shop/Product', { name: uniqueName(), price: 1, secret: 'x' }), 400, 'bad_request');
    expectError(await call('POST', '/api/shop/Product', { name: uniqueName(), price: 1e300 }), 400, 'bad_request');
    expectError(await call('POST', '/api/shop/Product', { name: { nested: { garbage: true } }, price: 1 }), 400, 'bad_request');
    expectError(await call('GET', '/api/shop/Product/abc'), 400, 'bad_request');
    // A parameter of the application (a ?token= for authenticate, a cache buster) passes; any other unknown one is refused.
    const created = await createProduct();
    const passed = await call('GET', `/api/shop/Product/${created.id}?token=abc&_=123`);
    expect([passed.status, passed.body.id]).toEqual([200, created.id]);
    expectError(await call('GET', '/api/shop/Product?where=1&token=abc'), 400, 'bad_request');
  });

  it('a body that is not valid JSON is 400 bad_request', async () => {
    for (const [method, path] of [
      ['POST', '/api/shop/Product'],
      ['PATCH', '/api/shop/Product/1'],
      ['PUT', '/api/shop/Product/1'],
      ['POST', '/api/events'],
      ['POST', '/api/shop/Product/search'],
      ['POST', '/api/shop/Product/publish'],
    ]) {
      const res = await call(method, path, '{"name": "Lamp", "price": ');
      expect([method, path, res.status]).toEqual([method, path, 400]);
      expectError(res, 400, 'bad_request');
    }
  });

  it('a body over the body parser limit is 413 too_large', async () => {
    // Over the default limit of both platforms (Express 100 kB, Fastify 1 MiB).
    const res = await call('POST', '/api/shop/Product', { name: 'x'.repeat(2_000_000), price: 1 });
    expectError(res, 413, 'too_large');
  });

  it('body errors outside the REST prefix are left to the application', async () => {
    const res = await call('POST', '/elsewhere', '{"broken": ');
    expect(res.status).toBe(400);
    expect(res.body.error).not.toEqual(expect.objectContaining({ code: expect.any(String) }));
  });

  it('a body sent without a JSON content type is 400 and says that JSON is expected; nothing is written', async () => {
    const before = (await call('GET', '/api/shop/Product?limit=1')).body.count;
    // text/plain is parsed as text by Fastify and left unread by Express; Fastify refuses application/xml (415) before the route.
    for (const type of ['text/plain', 'application/xml']) {
      for (const [method, path] of [
        ['POST', '/api/shop/Product'],
        ['PATCH', '/api/shop/Product/1'],
        ['PUT', '/api/shop/Product/1'],
        ['POST', '/api/events'],
        ['POST', '/api/shop/Product/search'],
      ]) {
        const res = await fetch(t.http + path, { method, headers: { 'content-type': type }, body: JSON.stringify({ name: 'plain', price: 1 }) });
        const error = expectError({ status: res.status, body: await res.json() }, 400, 'bad_request');
        expect([method, path, error.message]).toEqual([method, path, `The body must be JSON, sent with Content-Type: application/json (got ${type})`]);
      }
    }
    expect((await call('GET', '/api/shop/Product?limit=1')).body.count).toBe(before);
  });

  it('a PATCH or PUT whose body names another id than the path is 400 and changes neither row', async () => {
    const one = await createProduct({ price: 7 });
    const two = await createProduct({ price: 8 });
    for (const method of ['PATCH', 'PUT']) {
      const error = expectError(await call(method, `/api/shop/Product/${one.id}`, { id: two.id, price: 9 }), 400, 'bad_request');
      expect(error.details).toEqual([expect.objectContaining({ field: 'id', constraint: 'path' })]);
    }
    expect((await call('GET', `/api/shop/Product/${one.id}`)).body).toEqual(one);
    expect((await call('GET', `/api/shop/Product/${two.id}`)).body).toEqual(two);
    // The same id in the body and the path is fine.
    expect((await call('PATCH', `/api/shop/Product/${one.id}`, { id: one.id, price: 9 })).status).toBe(200);
  });

  it('a body that is JSON but not an object is 400 bad_request', async () => {
    for (const body of ['[1, 2]', '"Lamp"', '42', 'null']) {
      const res = await call('POST', '/api/shop/Product', body);
      expect([body, res.status]).toEqual([body, 400]);
      expectError(res, 400, 'bad_request');
      expectError(await call('PATCH', '/api/shop/Product/1', body), 400, 'bad_request');
    }
  });

  it('not_found is 404', async () => {
    expectError(await call('GET', '/api/shop/Product/999999'), 404, 'not_found');
    expectError(await call('PATCH', '/api/shop/Product/999999', { price: 1 }), 404, 'not_found');
    expectError(await call('DELETE', '/api/shop/Product/999999'), 404, 'not_found');
  });

  it('conflict is 409: unique field (named in details) and stale version; nothing is written', async () => {
    const taken = await createProduct();
    const error = expectError(await call('POST', '/api/shop/Product', { name: taken.name, price: 1 }), 409, 'conflict');
    expect(error.details).toEqual([expect.objectContaining({ field: 'name' })]);
    const other = await createProduct({ price: 2 });
    expectError(await call('PATCH', `/api/shop/Product/${other.id}`, { name: taken.name }), 409, 'conflict');
    expect((await call('PATCH', `/api/shop/Product/${other.id}`, { price: 3, version: 1 })).body.version).toBe(2);
    expectError(await call('PATCH', `/api/shop/Product/${other.id}`, { price: 4, version: 1 }), 409, 'conflict');
    expectError(await call('PUT', `/api/shop/Product/${other.id}`, { price: 4, version: 1 }), 409, 'conflict');
    expect((await call('GET', `/api/shop/Product/${other.id}`)).body).toEqual({ ...other, price: 3, version: 2 });
  });

  it('subscribe needs a WebSocket: 400 over REST', async () => {
    expectError(await call('POST', '/api/events', { event: 'shop.Product.subscribe', data: {} }), 400, 'bad_request');
  });
});

/** An app of our own making (startApp cannot take forRootAsync or a global prefix). */
async function listen(
  bindings: DynamicModule,
  globalPrefix?: string,
  after: Type<unknown>[] = [],
): Promise<{ base: string; port: number; close: () => Promise<void> }> {
  const moduleRef = await Test.createTestingModule({
    imports: [TypeOrmModule.forRoot({ type: 'better-sqlite3', database: ':memory:', entities: ENTITIES, synchronize: true }), bindings, ...after],
  }).compile();
  const app = createApp(moduleRef, { logger: ['error'] });
  if (globalPrefix) app.setGlobalPrefix(globalPrefix);
  app.useWebSocketAdapter(new WsAdapter(app));
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, port, close: () => app.close() };
}

describe('module options', () => {
  it("authenticate gets Node's request (an IncomingMessage) over REST, SSE and the WebSocket upgrade, on Express and on Fastify", async () => {
    const seen: string[] = [];
    const app = await startApp(ENTITIES, {
      authenticate: (req) => {
        seen.push(req instanceof IncomingMessage ? 'IncomingMessage' : String((req as object)?.constructor?.name));
        return null;
      },
    });
    try {
      expect((await http(app.http, 'GET', '/api/shop/Product')).status).toBe(200);
      (await TestSocket.open(app.ws)).close();
      const leave = new AbortController();
      const stream = await fetch(`${app.http}/api/shop/Product/events`, { signal: leave.signal });
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      leave.abort();
      expect(seen).toEqual(['IncomingMessage', 'IncomingMessage', 'IncomingMessage']);
    } finally {
      await app.close();
    }
  });

  it('restPrefix changes the prefix of every route', async () => {
    const app = await startApp(ENTITIES, { restPrefix: 'rest/v2' }, { providers: [ChatHandlers] });
    try {
      const created = await http(app.http, 'POST', '/rest/v2/shop/Product', { name: 'Prefixed', price: 1 });
      expect(created.status).toBe(201);
      expect(await http(app.http, 'GET', `/rest/v2/shop/Product/${created.body.id}`)).toEqual({ status: 200, body: created.body });
      expect((await http(app.http, 'GET', '/rest/v2/shop/Product')).body.count).toBe(1);
      expect((await http(app.http, 'POST', '/rest/v2/events', { event: 'chat.send', data: 1 })).body.echo).toBe(1);
      expectError(await http(app.http, 'POST', '/rest/v2/shop/Product', '{"name": '), 400, 'bad_request');
      expectError(await http(app.http, 'GET', '/rest/v2/shop/Product/999'), 404, 'not_found');
      expect((await http(app.http, 'GET', `/api/shop/Product/${created.body.id}`)).status).toBe(404);
      expect((await http(app.http, 'POST', '/api/events', { event: 'chat.send', data: 1 })).status).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('forRootAsync({ useFactory, inject }) takes its options from an injected provider', async () => {
    const CONFIG = Symbol('config');
    @Injectable()
    class Settings {
      readonly prefix = 'async-api';
      readonly wsPath = '/live';
      readonly app = 'zz';
    }
    @Module({ providers: [Settings, { provide: CONFIG, useExisting: Settings }], exports: [CONFIG] })
    class SettingsModule {}

    const { base, port, close } = await listen(
      BindingsModule.forRootAsync({
        imports: [SettingsModule],
        inject: [CONFIG],
        useFactory: async (settings: Settings): Promise<BindingsModuleOptions> => ({
          restPrefix: settings.prefix,
          path: settings.wsPath,
          defaultApp: settings.app,
        }),
      }),
    );
    try {
      // defaultApp from the factory names the app of Note, which sets none.
      const note = await http(base, 'POST', '/async-api/zz/Note', { body: 'async' });
      expect(note).toEqual({ status: 201, body: expect.objectContaining({ body: 'async', done: false }) });
      expect((await http(base, 'GET', '/async-api/zz/Note')).body).toMatchObject({ count: 1, limit: 2 });
      expect((await http(base, 'GET', '/async-api/shop/Product')).status).toBe(200);
      expect((await http(base, 'GET', '/api/zz/Note')).status).toBe(404);
      expectError(await http(base, 'GET', '/async-api/app/Note'), 404, 'unknown_event');
      // The WebSocket path from the factory serves the same bindings.
      const socket = await TestSocket.open(`ws://127.0.0.1:${port}/live`);
      try {
        expect((await socket.request('zz.Note.retrieve', { id: note.body.id })).data).toEqual(note.body);
      } finally {
        socket.close();
      }
      await expect(TestSocket.open(`ws://127.0.0.1:${port}/ws`)).rejects.toThrow();
    } finally {
      await close();
    }
  });

  it('forRootAsync({ useClass }) creates the class with the dependencies of its imports and takes its options', async () => {
    @Injectable()
    class Prefix {
      readonly value = 'by-class';
    }
    @Module({ providers: [Prefix], exports: [Prefix] })
    class PrefixModule {}
    @Injectable()
    class OptionsFromClass implements BindingsOptionsFactory {
      constructor(private readonly prefix: Prefix) {}
      createBindingsOptions(): BindingsModuleOptions {
        return { restPrefix: this.prefix.value, path: '/by-class' };
      }
    }
    const { base, port, close } = await listen(BindingsModule.forRootAsync({ imports: [PrefixModule], useClass: OptionsFromClass }));
    try {
      expect((await http(base, 'POST', '/by-class/shop/Product', { name: 'Classy', price: 1 })).status).toBe(201);
      expect((await http(base, 'GET', '/api/shop/Product')).status).toBe(404);
      const socket = await TestSocket.open(`ws://127.0.0.1:${port}/by-class`);
      expect((await socket.request('shop.Product.list', {})).data).toMatchObject({ count: 1 });
      socket.close();
    } finally {
      await close();
    }
  });

  it('forRootAsync({ useExisting }) reuses the provider a module exports instead of creating another', async () => {
    let created = 0;
    @Injectable()
    class SharedOptions implements BindingsOptionsFactory {
      constructor() {
        created++;
      }
      createBindingsOptions(): Promise<BindingsModuleOptions> {
        return Promise.resolve({ restPrefix: 'existing' });
      }
    }
    @Module({ providers: [SharedOptions], exports: [SharedOptions] })
    class SharedModule {}
    const { base, close } = await listen(BindingsModule.forRootAsync({ imports: [SharedModule], useExisting: SharedOptions }));
    try {
      expect((await http(base, 'GET', '/existing/shop/Product')).status).toBe(200);
      expect(created).toBe(1);
    } finally {
      await close();
    }
  });

  it('forRootAsync without useFactory, useClass or useExisting throws InvalidOptionsException with the fix', () => {
    const attempt = () => BindingsModule.forRootAsync({ imports: [] });
    expect(attempt).toThrow(InvalidOptionsException);
    expect(attempt).toThrow(
      'BindingsModule.forRootAsync has no useFactory, useClass or useExisting. Pass one of them: forRootAsync({ useFactory: (config) => ({ ... }), inject: [ConfigService] }).',
    );
  });

  it('a second BindingsModule on the same DataSource stops start-up with DuplicateBindingsModuleException saying to register it once', async () => {
    const failure = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ type: 'better-sqlite3', database: ':memory:', entities: ENTITIES, synchronize: true }),
        BindingsModule.forRoot({}),
        BindingsModule.forRootAsync({ useFactory: () => ({ path: '/second', restPrefix: 'second' }) }),
      ],
    })
      .compile()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(DuplicateBindingsModuleException);
    expect((failure as Error).message).toBe(
      'BindingsModule is registered 2 times for the DataSource "default": each would serve the same entities on its own path and push every change twice. ' +
        'Register it once, in the root module (BindingsModule.forRoot or forRootAsync); it is global, so other modules inject BindingsService without importing it again.',
    );
  });

  it('a second BindingsModule on another DataSource stops start-up too, naming both DataSources', async () => {
    const failure = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ type: 'better-sqlite3', database: ':memory:', entities: ENTITIES, synchronize: true }),
        TypeOrmModule.forRoot({ name: 'other', type: 'better-sqlite3', database: ':memory:', entities: [Product, Category], synchronize: true }),
        BindingsModule.forRoot({}),
        BindingsModule.forRoot({ dataSource: 'other', path: '/other', restPrefix: 'other' }),
      ],
    })
      .compile()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(DuplicateBindingsModuleException);
    expect((failure as Error).message).toBe(
      'BindingsModule is registered 2 times, for the DataSources "default", "other": an application serves the bindings of one DataSource. ' +
        "Register BindingsModule once, with the DataSource that holds the @Binding entities (dataSource: 'name'), and move the entities to serve into it.",
    );
  });

  it("routes and body errors follow the application's global prefix", async () => {
    const { base, close } = await listen(BindingsModule.forRoot({}), 'v1');
    try {
      expect((await http(base, 'POST', '/v1/api/shop/Product', { name: 'Global', price: 1 })).status).toBe(201);
      expect((await http(base, 'GET', '/v1/api/shop/Product')).body.count).toBe(1);
      expectError(await http(base, 'POST', '/v1/api/shop/Product', '{"name": '), 400, 'bad_request');
    } finally {
      await close();
    }
  });

  it('restPrefix false from a forRootAsync factory serves no REST routes, and shadows none of the application', async () => {
    @Controller('users')
    class UsersController {
      @Get(':id')
      one(@Param('id') id: string) {
        return { user: id };
      }
    }
    @Module({ controllers: [UsersController] })
    class UsersModule {}
    const { base, close } = await listen(BindingsModule.forRootAsync({ useFactory: () => ({ restPrefix: false }) }), undefined, [UsersModule]);
    try {
      expect(await http(base, 'GET', '/users/7')).toEqual({ status: 200, body: { user: '7' } });
      expect((await http(base, 'GET', '/shop/Product')).status).toBe(404);
      expect((await http(base, 'GET', '/api/shop/Product')).status).toBe(404);
      expect((await http(base, 'POST', '/events', { event: 'shop.Product.list' })).status).toBe(404);
    } finally {
      await close();
    }
  });

  it('restPrefix false serves no REST routes; the WebSocket still works', async () => {
    const app = await startApp(ENTITIES, { restPrefix: false });
    const socket = await TestSocket.open(app.ws);
    try {
      expect((await http(app.http, 'GET', '/api/shop/Product')).status).toBe(404);
      expect((await http(app.http, 'GET', '/shop/Product')).status).toBe(404);
      expect((await http(app.http, 'POST', '/events', { event: 'shop.Product.list' })).status).toBe(404);
      expect((await socket.request('shop.Product.list', {})).data).toMatchObject({ count: 0 });
    } finally {
      socket.close();
      await app.close();
    }
  });
});
