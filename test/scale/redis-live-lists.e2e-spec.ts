import 'reflect-metadata';
import { jest } from '@jest/globals';
import fc from 'fast-check';
import { join } from 'node:path';
import { IsInt, IsString } from 'class-validator';
import { Column, Entity, PrimaryGeneratedColumn, type DataSourceOptions } from 'typeorm';
import { Binding, type BindingsModuleOptions } from '../../lib/index.js';
import { LiveLists } from '../../lib/live/live-lists.js';
import { readUserHeader, settle, TestSocket, userHeader, type TestApp } from '../fixtures/harness.js';
import { Card, LiveCopy, openLive, Shelf, type LiveUser } from '../fixtures/live-fixtures.js';
import { keyPrefix, removeTempDirs, startRedis, startSharing, tempDir } from './instances.js';

// PROTOCOL.md section 9 with two instances sharing one database and one Redis: a commit on
// either instance reaches the live lists of both, in one frame per commit, and the copies
// equal fresh lists once the changes have arrived (random changes, seeded and printed).
jest.setTimeout(60_000);

let redis: Awaited<ReturnType<typeof startRedis>>;
let a: TestApp;
let b: TestApp;
const sockets: TestSocket[] = [];
const acme: LiveUser = { id: 1, tenant: 'acme' };
const globex: LiveUser = { id: 2, tenant: 'globex' };
/** The tenant is excluded: moving a row to another tenant changes nothing a push could show. */
@Binding({ app: 'live', scope: (user: LiveUser | null) => ({ tenant: user?.tenant ?? '-none-' }), exclude: ['tenant'] })
@Entity()
class Job {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() tenant: string;
  @Column('int') @IsInt() rank: number;
}

beforeAll(async () => {
  redis = await startRedis();
  const database: DataSourceOptions = { type: 'better-sqlite3', database: join(tempDir(), 'live.sqlite'), entities: [Card, Shelf, Job], synchronize: true };
  const options: BindingsModuleOptions = {
    authenticate: readUserHeader,
    limits: { framesPerSecond: 100_000, burst: 100_000 },
    adapter: { redis: redis.url, keyPrefix: keyPrefix('l') },
  };
  a = await startSharing(database, options);
  b = await startSharing(database, options);
  await settle(200); // both subscribed to Redis
});
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await a?.close();
  await b?.close();
  await redis?.stop();
  removeTempDirs();
});

async function open(app: TestApp, user: LiveUser): Promise<TestSocket> {
  const socket = await TestSocket.open(app.ws, userHeader(user));
  sockets.push(socket);
  return socket;
}

/** Waits (a bounded time) until the copy equals a fresh list by its socket: changes of the other instance come through Redis. */
async function converges(copy: LiveCopy, event: string, data: Record<string, unknown>, step: string): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 100; attempt++) {
    const fresh = await copy.socket.request(event, data);
    copy.catchUp();
    const held = JSON.stringify({ count: copy.count, rows: copy.rows });
    const want = JSON.stringify({ count: fresh.data.count, rows: fresh.data.rows });
    if (held === want && copy.errors.length === 0) return;
    last = `held ${held}\nwant ${want}\n${copy.errors.join('; ')}`;
    await settle(20);
  }
  throw new Error(`${step}: ${event} ${JSON.stringify(data)} never caught up\n${last}`);
}

it('a commit on either instance reaches the live lists of both, and their copies equal fresh lists', async () => {
  const seed = Number(process.env.LIVE_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`redis live-lists test: LIVE_SEED=${seed}`);
  const apps = [a, b];
  const lists = [
    { app: b, user: acme, event: 'live.Card.list', data: { order: { rank: 'ASC' }, limit: 3 } },
    { app: b, user: acme, event: 'live.Card.list', data: { order: { price: 'DESC' }, limit: 2, page: 2 } },
    { app: a, user: acme, event: 'live.Card.list', data: { order: { rank: 'ASC' }, limit: 3 } },
    { app: b, user: globex, event: 'live.Card.search', data: { q: 'a', order: { label: 'ASC' }, limit: 3, include: ['shelf'] } },
  ];
  const copies: LiveCopy[] = [];
  for (const list of lists) copies.push(await openLive(await open(list.app, list.user), list.event, list.data));

  // One transaction of three rows on instance a: one frame on instance b.
  await a.dataSource.transaction(async (manager) => {
    for (const rank of [5, 1, 3]) await manager.save(Card, { tenant: 'acme', rank, price: rank * 10, label: 'a' });
  });
  await converges(copies[0], lists[0].event, lists[0].data, 'transaction');
  expect(copies[0].frames).toBe(1);
  expect(copies[0].rows.map((r) => r.rank)).toEqual([1, 3, 5]);

  const op = fc.record({
    on: fc.integer({ min: 0, max: 1 }),
    what: fc.constantFrom('create', 'update', 'delete', 'rollback'),
    tenant: fc.integer({ min: 0, max: 1 }),
    rank: fc.integer({ min: 0, max: 12 }),
    pick: fc.nat(100),
    label: fc.constantFrom('a', 'b', 'ab', 'B'),
  });
  for (const [i, step] of fc.sample(op, { seed, numRuns: 80 }).entries()) {
    const repo = apps[step.on].dataSource.getRepository(Card);
    const all = await repo.find({ order: { id: 'ASC' } });
    const card = all.length ? all[step.pick % all.length] : undefined;
    const tenant = step.tenant ? 'globex' : 'acme';
    if (step.what === 'create' || !card) await repo.save({ tenant, rank: step.rank, price: step.rank * 3, label: step.label });
    else if (step.what === 'update') await repo.update({ id: card.id }, { rank: step.rank, label: step.label });
    else if (step.what === 'delete') await repo.delete(card.id);
    else {
      await expect(
        apps[step.on].dataSource.transaction(async (manager) => {
          await manager.save(Card, { ...card, rank: step.rank });
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
    }
    for (const [k, copy] of copies.entries()) await converges(copy, lists[k].event, lists[k].data, `seed ${seed} step ${i} ${JSON.stringify(step)}`);
  }
  for (const app of apps) expect(app.app.get(LiveLists).idle()).toBe(true);
});

it("a row moved to another tenant by an excluded column on one instance leaves the old tenant's page on the other", async () => {
  const job = await a.dataSource.getRepository(Job).save({ tenant: 'acme', rank: 1 });
  const query = { order: { rank: 'ASC' } };
  const mine = await openLive(await open(b, acme), 'live.Job.list', query);
  const theirs = await openLive(await open(b, globex), 'live.Job.list', query);
  expect(mine.rows).toEqual([{ id: job.id, rank: 1 }]);
  await a.dataSource.getRepository(Job).update({ id: job.id }, { tenant: 'globex' });
  await mine.socket.waitFor((f) => f.room === mine.room);
  await theirs.socket.waitFor((f) => f.room === theirs.room);
  await converges(mine, 'live.Job.list', query, 'old tenant');
  await converges(theirs, 'live.Job.list', query, 'new tenant');
  expect(mine.rows).toEqual([]);
  expect(theirs.rows).toEqual([{ id: job.id, rank: 1 }]);
});
