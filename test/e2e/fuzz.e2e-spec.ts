import fc from 'fast-check';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { http, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

// Thousands of random and malformed frames and REST bodies against a running app. After
// them: the process still serves, every frame got one well-formed reply, no reply carries
// a stack trace or SQL, and the table holds exactly what the successful requests wrote.
const LEAK = /\bat \w+ \(|\.ts:\d+|\.js:\d+|SELECT |INSERT |UPDATE "|DELETE FROM|SQLITE_|QueryFailedError|TypeError|ReferenceError/;
const CODES = new Set(['bad_request', 'unknown_event', 'unauthorized', 'forbidden', 'not_found', 'conflict', 'too_large', 'rate_limited', 'internal']);

let t: TestApp;
let socket: TestSocket;
beforeAll(async () => {
  t = await startApp([Product, Category, NoteEntity], { limits: { framesPerSecond: 1e6, burst: 1e6 } });
  socket = await TestSocket.open(t.ws);
});
afterAll(async () => {
  socket.close();
  await t.close();
});

/** What the table must hold: rebuilt from the successful replies only. */
const expected = new Map<number, Record<string, unknown>>();

let successes = 0;
function track(event: string, reply: any): void {
  if (reply.error) return;
  successes++;
  if (event === 'shop.Product.create' || event === 'shop.Product.update' || event === 'shop.Product.save') expected.set(reply.data.id, reply.data);
  if (event === 'shop.Product.delete') expected.delete(reply.data.id);
}

function checkReply(reply: any): void {
  expect(typeof reply.event).toBe('string');
  const text = JSON.stringify(reply);
  expect(text).not.toMatch(LEAK);
  if (reply.error) {
    expect(CODES.has(reply.error.code)).toBe(true);
    expect(typeof reply.error.message).toBe('string');
  } else {
    expect('data' in reply).toBe(true);
  }
}

const anyJson = fc.jsonValue({ maxDepth: 4 });
const field = fc.constantFrom('id', 'name', 'price', 'status', 'secret', 'categoryId', 'version', '__proto__', 'constructor', 'prototype', 'x');
const value = fc.oneof(
  anyJson,
  fc.integer(),
  fc.double(),
  fc.constantFrom(1e300, -0, 2 ** 53 + 1, '', 'open', 'closed', null, '1; DROP TABLE product'),
  fc.string({ maxLength: 300 }),
);
const fields = fc.dictionary(field, value, { maxKeys: 6 });
const action = fc.constantFrom('retrieve', 'list', 'search', 'create', 'update', 'save', 'delete', 'subscribe', 'unsubscribe', 'nope');
const event = fc.oneof(
  action.map((a) => `shop.Product.${a}`),
  fc.string({ maxLength: 40 }),
  fc.constantFrom('ping', '', 'shop.Hidden.list', 'shop.Product'),
);
const data = fc.oneof(
  fields,
  fc.record({
    filter: fc.oneof(anyJson, fc.dictionary(field, fc.dictionary(fc.constantFrom('eq', 'gt', 'in', 'like', 'ilike', 'isNull', '$or', 'zz'), value))),
  }),
  fc.record({ id: value }),
  fc.record({ page: value, limit: value, order: anyJson }),
  anyJson,
);
// Near-valid writes, so that many succeed and the final table check means something.
const write = fc.record({
  event: fc.constantFrom('shop.Product.create', 'shop.Product.update', 'shop.Product.save', 'shop.Product.delete'),
  data: fc.record(
    {
      id: fc.integer({ min: 1, max: 60 }),
      name: fc.string({ minLength: 1, maxLength: 8 }),
      price: fc.integer({ min: -2, max: 1000 }),
      status: fc.constantFrom('open', 'closed', 'bad'),
    },
    { requiredKeys: [] },
  ),
});
const frame = fc.oneof(
  { weight: 3, arbitrary: write.map((f) => JSON.stringify(f)) },
  { weight: 6, arbitrary: fc.record({ event, data }).map((f) => JSON.stringify(f)) },
  { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{',
      '{"event":',
      '[]',
      'null',
      '{"event":"ping","id":{"a":1}}',
      '{"__proto__":{"event":"x"}}',
      '{"event":"' + 'a'.repeat(500) + '"}',
    ),
  },
);

it('survives thousands of random frames with one well-formed reply each', async () => {
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(frame, async (text) => {
      sent++;
      // Each frame is wrapped to carry a known id when it is an object we can extend.
      let parsed: any;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const correlated = parsed && typeof parsed === 'object' && !Array.isArray(parsed);
      if (correlated) {
        const id = `f${sent}`;
        const wait = socket.waitFor((f) => f.id === id);
        socket.sendRaw(JSON.stringify({ ...parsed, id }));
        const reply = await wait;
        checkReply(reply);
        track(String(parsed.event), reply);
      } else {
        const before = socket.frames.length;
        socket.sendRaw(text);
        const reply = await socket.waitFor((f) => socket.frames.indexOf(f) >= before && f.event === 'error' && f.id === undefined);
        checkReply(reply);
        expect(reply.error.code).toBe('bad_request');
      }
    }),
    { numRuns: 2500 },
  );
  expect(sent).toBeGreaterThanOrEqual(2500);
  expect(successes).toBeGreaterThan(20);
}, 120_000);

it('still serves valid requests, and the table holds exactly what succeeded', async () => {
  const created = await socket.request('shop.Product.create', { name: 'after the storm', price: 1 });
  expect(created.data.name).toBe('after the storm');
  track('shop.Product.create', created);
  const rows = await t.dataSource.getRepository(Product).find({ order: { id: 'ASC' } });
  const actual = rows.map(({ secret, category, ...row }) => row);
  const wanted = [...expected.values()].sort((x: any, y: any) => x.id - y.id);
  expect(wanted.length).toBeGreaterThan(5);
  expect(actual).toEqual(wanted);
  expect(rows.every((row) => row.secret === null || row.secret === undefined)).toBe(true);
});

it('answers random REST bodies with a documented status and error shape', async () => {
  const statuses = new Set([200, 201, 400, 404, 409, 413, 500]);
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(anyJson, fields),
      fc.constantFrom('/api/shop/Product', '/api/events', '/api/shop/Product/search', '/api/shop/Product/1'),
      async (body, path) => {
        const method = path.endsWith('/1') ? 'PATCH' : 'POST';
        const res = await http(t.http, method, path, JSON.stringify(body));
        expect(statuses.has(res.status)).toBe(true);
        expect(JSON.stringify(res.body ?? null)).not.toMatch(LEAK);
        if (res.status >= 400) expect(CODES.has(res.body.error.code)).toBe(true);
      },
    ),
    { numRuns: 300 },
  );
}, 60_000);
