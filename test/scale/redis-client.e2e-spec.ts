import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RoomAdapter } from '../../lib/index.js';
import { Category, Product } from '../fixtures/entities.js';
import { settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { startRedis } from './instances.js';

// `adapter: { redis: <the application's ioredis client> }`: the Redis suite's core scenario
// (two instances share pushes and their numbering) with clients the application made. The
// adapter opens its connections with duplicate(): the application's clients are never
// subscribed on, and are still open and usable after the apps have closed.
jest.setTimeout(30_000);

let redis: Awaited<ReturnType<typeof startRedis>>;
let clientA: Redis;
let clientB: Redis;
let a: TestApp;
let b: TestApp;
const sockets: TestSocket[] = [];
const open = async (app: TestApp) => {
  const socket = await TestSocket.open(app.ws);
  sockets.push(socket);
  return socket;
};

beforeAll(async () => {
  redis = await startRedis();
  clientA = new Redis(redis.url);
  clientB = new Redis(redis.url);
  const keyPrefix = `k${randomBytes(3).toString('hex')}:`;
  a = await startApp([Product, Category], { adapter: { redis: clientA, keyPrefix } });
  b = await startApp([Product, Category], { adapter: { redis: clientB, keyPrefix } });
  await settle(200);
});
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await a?.close();
  await b?.close();
  clientA?.disconnect();
  clientB?.disconnect();
  await redis?.stop();
});

it('uses the Redis adapter, on connections of its own', async () => {
  expect(a.app.get(RoomAdapter).constructor.name).toBe('RedisRoomAdapter');
  // The adapter's connections are duplicates: the application's client runs no subscription.
  const clients = (await clientA.client('LIST')) as string;
  expect(clients.split('\n').filter((line) => /sub=[1-9]/.test(line)).length).toBeGreaterThanOrEqual(2);
  expect(await clientA.set(`probe:${randomBytes(3).toString('hex')}`, '1')).toBe('OK');
});

it('a change committed on A reaches subscribers on A and B once, numbered alike', async () => {
  const onA = await open(a);
  const onB = await open(b);
  const roomA = (await onA.request('shop.Product.subscribe', {})).data;
  const roomB = (await onB.request('shop.Product.subscribe', {})).data;
  expect(roomB).toEqual(roomA);

  const created = await a.dataSource.getRepository(Product).save({ name: 'shared', price: 1 });
  await a.dataSource.getRepository(Product).update({ id: created.id }, { price: 2 });
  await onA.waitFor((f) => f.event === 'shop.Product.updated' && f.data.price === 2);
  await onB.waitFor((f) => f.event === 'shop.Product.updated' && f.data.price === 2);
  await settle(200);

  const pushes = (socket: TestSocket) => socket.pushes().map((p) => [p.event, p.room, p.seq, p.change]);
  expect(pushes(onA)).toHaveLength(2);
  expect(pushes(onB)).toEqual(pushes(onA));
  expect(pushes(onA).map((p) => p[2])).toEqual([roomA.seq + 1, roomA.seq + 2]);

  // The numbering is shared: a change committed on B continues it, and a new subscriber on B starts from it.
  const other = await b.dataSource.getRepository(Product).save({ name: 'from B', price: 5 });
  await onA.waitFor((f) => f.event === 'shop.Product.created' && f.data.id === other.id && f.data.name === 'from B');
  const last = onA.pushes().at(-1)!;
  expect(last.seq).toBe(roomA.seq + 3);
  const late = await open(b);
  expect((await late.request('shop.Product.subscribe', {})).data).toEqual({ room: roomA.room, seq: roomA.seq + 3 });
});

it("leaves the application's clients open and usable after the apps have closed", async () => {
  await a.close();
  await b.close();
  a = b = undefined as unknown as TestApp;
  await settle(100);
  for (const client of [clientA, clientB]) {
    expect(client.status).toBe('ready');
    expect(await client.set('after-close', 'yes')).toBe('OK');
    expect(await client.get('after-close')).toBe('yes');
  }
  // Only the application's own two connections are left: the adapter closed its duplicates.
  const clients = ((await clientA.client('LIST')) as string).trim().split('\n');
  expect(clients).toHaveLength(2);
});
