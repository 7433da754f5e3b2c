import { jest } from '@jest/globals';
import { signPublish } from '../../lib/index.js';
import { Category, Product } from '../fixtures/entities.js';
import { settle, TestSocket, type TestApp } from '../fixtures/harness.js';
import { startPair, startRedis } from './instances.js';

// PROTOCOL.md section 7, "a signature already accepted once (a replay) answers 401": with the
// Redis adapter, once on any instance. Two instances share one Redis of the test's own.
jest.setTimeout(30_000);

const SECRET = 'shared-between-instances';
let redis: Awaited<ReturnType<typeof startRedis>>;
let a: TestApp;
let b: TestApp;
let redisStopped = false;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  ({ redis, a, b } = await startPair([Product, Category], { publish: { secret: SECRET } }));
});
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await a?.close();
  await b?.close();
  if (!redisStopped) await redis?.stop(); // stop() waits for an exit that, a second time, never comes
});

async function post(base: string, body: string, signature: string): Promise<number> {
  const res = await fetch(`${base}/api/publish`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-bindings-signature': signature }, body });
  await res.text();
  return res.status;
}

it('a request accepted by one instance is refused as a replay by the other, and its members get it once', async () => {
  const socket = await TestSocket.open(b.ws);
  sockets.push(socket);
  await socket.request('channel.join', { channel: 'orders' });
  const body = JSON.stringify({ channel: 'orders', event: 'paid', data: { order: 7 } });
  const signature = signPublish(SECRET, body);
  expect(await post(a.http, body, signature)).toBe(200);
  expect(await post(b.http, body, signature)).toBe(401);
  expect(await post(a.http, body, signature)).toBe(401);
  // Copies sent to both instances at once: one is accepted.
  const other = JSON.stringify({ channel: 'orders', event: 'paid', data: { order: 8 } });
  const otherSignature = signPublish(SECRET, other);
  const statuses = await Promise.all([a, b, a, b].map((app) => post(app.http, other, otherSignature)));
  expect(statuses.sort()).toEqual([200, 401, 401, 401]);
  await socket.waitFor((f) => f.event === 'paid' && f.data.order === 8);
  await settle(200);
  expect(socket.frames.filter((f) => f.event === 'paid').map((f) => f.data.order)).toEqual([7, 8]);
});

it('with Redis unreachable a publish is refused (fail closed) and nothing is sent', async () => {
  const socket = await TestSocket.open(a.ws);
  sockets.push(socket);
  await socket.request('shop.Product.subscribe', {});
  await redis.stop();
  redisStopped = true;
  const body = JSON.stringify({ room: 'shop.Product', event: 'lost', data: null });
  expect(await post(a.http, body, signPublish(SECRET, body))).toBe(500);
  await settle(100);
  expect(socket.frames.filter((f) => f.event === 'lost')).toEqual([]);
});
