// PROTOCOL.md section 7: GET /api/admin/stats, for the users admin.can allows.
import type { IncomingMessage } from 'node:http';
import { Category, Product } from '../fixtures/entities.js';
import { http, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

const authenticate = (req: IncomingMessage) => (req.headers['x-user'] ? { id: String(req.headers['x-user']), role: req.headers['x-role'] } : null);

let t: TestApp;
beforeAll(async () => {
  t = await startApp([Product, Category], { authenticate, admin: { can: (user) => user?.role === 'admin' } });
});
afterAll(() => t.close());

const stats = (headers: Record<string, string> = { 'x-user': 'root', 'x-role': 'admin' }, base = t.http) =>
  http(base, 'GET', '/api/admin/stats', undefined, headers);

it('answers 403 to anyone admin.can refuses, anonymous callers included', async () => {
  for (const headers of [{}, { 'x-user': 'bob' }, { 'x-user': 'bob', 'x-role': 'user' }] as Record<string, string>[]) {
    const res = await stats(headers);
    expect([res.status, res.body.error.code]).toEqual([403, 'forbidden']);
  }
});

it('counts connections, occupied rooms, replay buffers and the rates of pushes and requests', async () => {
  const before = (await stats()).body;
  expect(before).toEqual({
    connections: 0,
    rooms: [],
    pushesPerSecond: expect.any(Number),
    requestsPerSecond: expect.any(Number),
    replay: { rooms: expect.any(Number), pushes: expect.any(Number) },
  });

  const [a, b] = [await TestSocket.open(t.ws, { 'x-user': 'a' }), await TestSocket.open(t.ws, { 'x-user': 'b' })];
  await a.request('shop.Product.subscribe', {});
  await b.request('shop.Product.subscribe', {});
  await b.request('channel.join', { channel: 'ops' });
  for (let i = 0; i < 20; i++) await a.request('ping', i);
  const created = await http(t.http, 'POST', '/api/shop/Product', { name: `Stat ${Date.now()}`, price: 3 });
  expect(created.status).toBe(201);
  await a.waitFor((f) => f.event === 'shop.Product.created');
  await b.waitFor((f) => f.event === 'shop.Product.created');

  const now = (await stats()).body;
  expect(now.connections).toBe(2);
  expect(now.rooms).toEqual(
    expect.arrayContaining([
      { room: 'shop.Product', subscribers: 2 },
      { room: 'channel:ops', subscribers: 1 },
    ]),
  );
  expect(now.rooms).toHaveLength(2);
  expect(now.replay.rooms).toBeGreaterThanOrEqual(2);
  expect(now.replay.pushes).toBeGreaterThanOrEqual(1);
  // 23 frames and 1 REST request within the window; 2 pushes (plus the presence frame).
  expect(now.requestsPerSecond).toBeGreaterThan(before.requestsPerSecond);
  expect(now.requestsPerSecond).toBeGreaterThanOrEqual(2);
  expect(now.pushesPerSecond).toBeGreaterThan(before.pushesPerSecond);

  a.close();
  b.close();
  await new Promise((r) => setTimeout(r, 100));
  const after = (await stats()).body;
  expect(after.connections).toBe(0);
  expect(after.rooms).toEqual([]);
});

it('is refused (403) when the module has no admin option, even for an "admin"; 401 first when anonymous callers are refused', async () => {
  const plain = await startApp([Product, Category], { authenticate });
  try {
    expect((await stats(undefined, plain.http)).status).toBe(403);
  } finally {
    await plain.close();
  }
  const strict = await startApp([Product, Category], { authenticate, anonymous: false, admin: { can: () => true } });
  try {
    expect((await stats({}, strict.http)).status).toBe(401);
    expect((await stats({ 'x-user': 'anyone' }, strict.http)).status).toBe(200);
  } finally {
    await strict.close();
  }
});
