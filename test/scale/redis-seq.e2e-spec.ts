import 'reflect-metadata';
import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { BindingsModuleOptions } from '../../lib/index.js';
import { ok, settle, TestSocket, type TestApp } from '../fixtures/harness.js';
import { SseReader } from '../fixtures/sse-reader.js';
import { alice, as, authenticateFromHeader, bob, carol, Doc, DocHandler, subscribeDocs, type TestUser } from '../fixtures/tenancy-fixtures.js';
import { keyPrefix, removeTempDirs, startRedis, startSharing, tempDir } from './instances.js';

// PROTOCOL.md sections 4 and 8 with two instances sharing one database and one Redis: a
// room of a scoped binding is numbered per scope, and that numbering is shared by all
// instances: whichever instance commits a change, another tenant's reply, since probe and
// SSE id do not count it; users of one scope see the same seq on every instance; each
// change is still one Redis message.
jest.setTimeout(30_000);

let redis: Awaited<ReturnType<typeof startRedis>>;
let watcher: Redis;
const prefix = keyPrefix('s');
const messages: string[] = [];
let a: TestApp;
let b: TestApp;
const sockets: TestSocket[] = [];
const readers: SseReader[] = [];
const N = 4;

beforeAll(async () => {
  redis = await startRedis();
  watcher = new Redis(redis.url);
  await watcher.subscribe(`${prefix}changes`);
  watcher.on('message', (_channel, text) => messages.push(text));
  // The tenancy fixtures over a shared SQLite file, pushes shared through Redis.
  const database: DataSourceOptions = { type: 'better-sqlite3', database: join(tempDir(), 'docs.sqlite'), entities: [Doc], synchronize: true };
  const options: BindingsModuleOptions = { authenticate: authenticateFromHeader, anonymous: false, adapter: { redis: redis.url, keyPrefix: prefix } };
  a = await startSharing(database, options, { providers: [DocHandler] });
  b = await startSharing(database, options, { providers: [DocHandler] });
});
afterAll(async () => {
  for (const socket of sockets) socket.close();
  for (const reader of readers) reader.close();
  await a?.close();
  await b?.close();
  watcher?.disconnect();
  await redis?.stop();
  removeTempDirs();
});

async function open(app: TestApp, user: TestUser): Promise<TestSocket> {
  const socket = await TestSocket.open(app.ws, as(user));
  sockets.push(socket);
  return socket;
}
const probe = async (app: TestApp, user: TestUser, data: object) => subscribeDocs(await open(app, user), data);
async function firstId(app: TestApp, user: TestUser, query: string): Promise<string | undefined> {
  const reader = await SseReader.open(`${app.http}/api/t/Doc/events${query}`, as(user));
  readers.push(reader);
  await reader.waitFor(() => reader.blocks.length > 0);
  return reader.blocks[0].id;
}
async function pushes(socket: TestSocket, count: number): Promise<any[]> {
  await socket.waitFor(() => socket.pushes().length >= count);
  await settle(100);
  return socket.pushes();
}

it("another tenant's changes, committed on either instance, are not counted in a scope's rooms anywhere", async () => {
  const filter = { rank: 9001 };
  const aliceOnA = await open(a, alice);
  const bobOnB = await open(b, bob);
  const bobOnA = await open(a, bob);
  expect(await ok(aliceOnA, 't.Doc.subscribe', {})).toEqual({ room: 't.Doc', seq: 0 });
  const filterRoom = (await ok(aliceOnA, 't.Doc.subscribe', { filter })).room;
  expect(await ok(bobOnB, 't.Doc.subscribe', {})).toEqual({ room: 't.Doc', seq: 0 });
  expect(await ok(bobOnB, 't.Doc.subscribe', { filter })).toEqual({ room: filterRoom, seq: 0 });
  await settle(300); // the scopes and filters reach the other instance through Redis

  // Bob's N changes, committed half on B and half on A.
  const doc = await ok(bobOnB, 't.Doc.create', { title: 'globex', tenant: 'globex', rank: 9001 });
  for (let i = 1; i < N; i++) await ok(i % 2 ? bobOnA : bobOnB, 't.Doc.update', { id: doc.id, title: `globex ${i}` });
  // Bob on B gets each once, through the filter room (the most specific), numbered 1..N across both instances
  // (a change relayed from A may arrive after a later one committed on B: sorted).
  const bobs = (await pushes(bobOnB, N)).map((p) => [p.room, p.seq]).sort((x, y) => (x[1] as number) - (y[1] as number));
  expect(bobs).toEqual([1, 2, 3, 4].map((seq) => [filterRoom, seq]));
  expect(messages).toHaveLength(N); // one Redis message per change
  expect(aliceOnA.pushes()).toEqual([]);

  for (const app of [a, b]) {
    expect((await probe(app, alice, {})).reply).toEqual({ room: 't.Doc', seq: 0 });
    expect((await probe(app, alice, { filter })).reply).toEqual({ room: filterRoom, seq: 0 });
    expect(await probe(app, alice, { since: 0 })).toEqual({ reply: { room: 't.Doc', seq: 0, recovered: true }, replayed: [] });
    expect((await probe(app, alice, { filter, since: N })).reply).toEqual({ room: filterRoom, seq: 0, recovered: false });
    expect(await firstId(app, alice, '')).toBe('0');
    expect(await firstId(app, alice, `?filter=${encodeURIComponent(JSON.stringify(filter))}`)).toBe('0');
    expect(await probe(app, bob, { filter, since: N - 1 })).toMatchObject({ reply: { room: filterRoom, seq: N, recovered: true }, replayed: [{ seq: N }] });
  }

  // Alice's own change, committed on B: seq 1 in her scope on both instances; Carol (same scope, on B) shares it.
  const carolOnB = await open(b, carol);
  expect(await ok(carolOnB, 't.Doc.subscribe', {})).toEqual({ room: 't.Doc', seq: 0 });
  const aliceOnB = await open(b, alice);
  const own = await ok(aliceOnB, 't.Doc.create', { title: 'acme', tenant: 'acme', rank: 9001 });
  expect((await pushes(aliceOnA, 1)).map((p) => [p.room, p.seq, p.data.id])).toEqual([[filterRoom, 1, own.id]]);
  expect((await pushes(carolOnB, 1)).map((p) => [p.room, p.seq, p.data.id])).toEqual([['t.Doc', 1, own.id]]);
  expect((await probe(a, carol, { since: 0 })).replayed.map((p) => [p.seq, p.data.id])).toEqual([[1, own.id]]);
  expect(await firstId(b, carol, '')).toBe('1');
  expect(bobOnB.pushes()).toHaveLength(N);
  expect(messages).toHaveLength(N + 1);
});
