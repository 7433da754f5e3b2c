import { jest } from '@jest/globals';
import { IsInt, IsString } from 'class-validator';
import { Redis } from 'ioredis';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { RedisRoomAdapter } from '../../lib/adapters/redis/redis-room-adapter.js';
import { Binding, RoomAdapter } from '../../lib/index.js';
import { settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { startRedis } from './instances.js';

// The Redis adapter under the memory bounds of PROTOCOL.md section 6: a push matched by
// many filter rooms is stored in Redis and sent between instances once, not once per room;
// and the filters registered for every instance are forgotten once their rooms are
// retired everywhere, so their matchers do not stay in memory.
jest.setTimeout(30_000);

@Binding({ app: 'rmem' })
@Entity()
class Sheet {
  @PrimaryGeneratedColumn() id: number;
  @Column('text') @IsString() body: string;
  @Column('int') @IsInt() n: number;
}

let redis: Awaited<ReturnType<typeof startRedis>>;
let client: Redis;
let a: TestApp;
let b: TestApp;
const prefix = 'rm:';
const sockets: TestSocket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  // A short replay window: rooms retire after 3 s, filters are marked every 1.5 s.
  const options = { adapter: { redis: redis.url, keyPrefix: prefix }, replay: { maxAge: 3000 } };
  a = await startApp([Sheet], options);
  b = await startApp([Sheet], options);
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  client?.disconnect();
  await redis?.stop();
});

const open = async (t: TestApp) => {
  const s = await TestSocket.open(t.ws);
  sockets.push(s);
  return s;
};
const filters = (t: TestApp, stream: string) => (t.app.get(RoomAdapter) as RedisRoomAdapter as any).filters.get(stream)?.size ?? 0;

it('stores and sends a push matched by 50 filter rooms once, and another instance still replays it in each room', async () => {
  const repository = a.dataSource.getRepository(Sheet);
  const row = await repository.save({ body: 'start', n: 0 });
  const s = await open(a);
  for (let k = 0; k < 50; k++) expect((await s.request('rmem.Sheet.subscribe', { filter: { id: { in: [row.id, 1_000_000 + k] } } })).error).toBeUndefined();
  const published: number[] = [];
  const listener = new Redis(redis.url);
  await listener.subscribe(`${prefix}changes`);
  listener.on('message', (_channel, text: string) => published.push(text.length));
  for (let n = 1; n <= 20; n++) await repository.update(row.id, { body: `${n}`.padEnd(10_000, 'q'), n });
  await s.waitFor(() => s.pushes().length === 20, 5000);
  // The socket and this listener read the same Redis messages, each at its own pace: wait
  // until the listener has them all, then a little longer so that an extra message would show.
  for (const started = Date.now(); published.length < 20 && Date.now() - started < 5000;) await settle(20);
  await settle(200);
  listener.disconnect();
  // Each change crossed Redis once with its data (10 KB), not 50 times (500 KB).
  expect(published).toHaveLength(20);
  expect(Math.max(...published)).toBeLessThan(40_000);
  // The replay lists hold small entries; the data is kept once per change.
  const lists = await client.keys(`${prefix}replay:rmem.Sheet\\?*`);
  expect(lists).toHaveLength(50);
  const entries = await client.lrange(lists[0], 0, -1);
  expect(entries).toHaveLength(20);
  expect(Math.max(...entries.map((e) => e.length))).toBeLessThan(200);
  expect(await client.keys(`${prefix}push:*`)).toHaveLength(20 + 1); // and the create's

  const late = await open(b);
  const reply = await late.request('rmem.Sheet.subscribe', { filter: { id: { in: [row.id, 1_000_049] } }, since: 0 });
  expect(reply.data).toMatchObject({ recovered: true });
  const replayed = late.pushes();
  expect(replayed.map((p) => p.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  expect(replayed.every((p) => p.room === reply.data.room && p.data.n === p.seq && p.data.body.length === 10_000)).toBe(true);
});

it('forgets, on every instance and in Redis, the filters of rooms retired everywhere', async () => {
  const s = await open(a);
  for (let k = 0; k < 30; k++) await s.request('rmem.Sheet.subscribe', { filter: { n: { in: [k, 2_000_000 + k] } } });
  await settle(300);
  expect(filters(b, 'rmem.Sheet')).toBeGreaterThanOrEqual(30);
  expect(await client.hlen(`${prefix}filters:rmem.Sheet`)).toBeGreaterThanOrEqual(30);
  s.close();
  // Retired after the 3 s window (swept every second), then unmarked for three rounds of 1.5 s.
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (filters(a, 'rmem.Sheet') > 0 || filters(b, 'rmem.Sheet') > 0)) await settle(250);
  expect(filters(a, 'rmem.Sheet')).toBe(0);
  expect(filters(b, 'rmem.Sheet')).toBe(0);
  expect(await client.hlen(`${prefix}filters:rmem.Sheet`)).toBe(0);
  // A filter in use is kept: subscribing again works and matches changes made on the other instance.
  const again = await open(a);
  await again.request('rmem.Sheet.subscribe', { filter: { n: { in: [7] } } });
  await settle(5000);
  expect(filters(b, 'rmem.Sheet')).toBe(1);
});
