import 'reflect-metadata';
import { jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Column, Entity, PrimaryGeneratedColumn, type DataSourceOptions } from 'typeorm';
import { Binding, type BindingsModuleOptions } from '../../lib/index.js';
import { createTestDatabase, testDb } from '../fixtures/database.js';
import { settle, TestSocket, type TestApp } from '../fixtures/harness.js';
import { keyPrefix, removeTempDirs, startRedis, startSharing, tempDir } from './instances.js';

// PROTOCOL.md sections 8 and 10: two instances in `capture: 'database'` mode sharing one
// database and one Redis. Each change recorded in the outbox is published to Redis by one
// instance only (the holder of the outbox lease), so every subscriber gets it once, and
// the seq of a room stays shared; when that instance stops, the other one takes over.
// SQLite file by default; PostgreSQL with BINDINGS_TEST_DB=postgres.
jest.setTimeout(30_000);

@Binding<RdNote>({ app: 'rd', name: 'Note' })
@Entity({ name: 'rd_note' })
class RdNote {
  @PrimaryGeneratedColumn() id: number;
  @Column() text: string;
  @Column('int', { default: 0 }) rank: number;
}

const execFileAsync = promisify(execFile);
let redis: Awaited<ReturnType<typeof startRedis>>;
let file: string; // the SQLite file, or the PostgreSQL URL with BINDINGS_TEST_DB=postgres
let database: DataSourceOptions;
let dropDatabase: () => Promise<void> = async () => undefined;
let a: TestApp | undefined;
let b: TestApp;
let sa: TestSocket;
let sb: TestSocket;

/** Statements run by another Node process on its own connection. */
async function outside(...statements: string[]): Promise<void> {
  await execFileAsync(process.execPath, ['test/fixtures/outside-writer.mjs', testDb, file, ...statements]);
}

async function pushes(s: TestSocket, count: number): Promise<any[]> {
  await s.waitFor(() => s.pushes().length >= count, 5000);
  await settle(400); // several polls: a second publication of any change would show
  return s.pushes();
}

beforeAll(async () => {
  redis = await startRedis();
  if (testDb === 'postgres') {
    const created = await createTestDatabase([RdNote]);
    database = created.options;
    dropDatabase = created.drop;
    file = (created.options as { url: string }).url;
  } else {
    file = join(tempDir(), 'shared.sqlite');
    database = { type: 'better-sqlite3', database: file, entities: [RdNote], synchronize: true };
  }
  const options: BindingsModuleOptions = { capture: { mode: 'database', pollInterval: 100 }, adapter: { redis: redis.url, keyPrefix: keyPrefix('d') } };
  a = await startSharing(database, options);
  b = await startSharing(database, options);
  sa = await TestSocket.open(a.ws);
  sb = await TestSocket.open(b.ws);
  for (const s of [sa, sb]) expect((await s.request('rd.Note.subscribe', {})).data).toMatchObject({ room: 'rd.Note' });
  await settle(200); // both subscribed to Redis
});
afterAll(async () => {
  sa?.close();
  sb?.close();
  await a?.close();
  await b?.close();
  await redis?.stop();
  await dropDatabase();
  removeTempDirs();
});
beforeEach(() => {
  sa.frames.length = 0;
  sb.frames.length = 0;
});

it('a change made elsewhere reaches the subscribers of both instances once, with one shared seq', async () => {
  await outside(`INSERT INTO rd_note (text, rank) VALUES ('outside', 0)`, ...[1, 2, 3].map((r) => `UPDATE rd_note SET rank = ${r} WHERE text = 'outside'`));
  const got = await Promise.all([pushes(sa, 4), pushes(sb, 4)]);
  for (const list of got) {
    expect(list.map((p) => [p.event, p.data.rank])).toEqual([
      ['rd.Note.created', 0],
      ['rd.Note.updated', 1],
      ['rd.Note.updated', 2],
      ['rd.Note.updated', 3],
    ]);
  }
  expect(got[0].map((p) => p.seq)).toEqual(got[1].map((p) => p.seq));
  expect(got[0].map((p) => p.change)).toEqual(got[1].map((p) => p.change));
  const seqs = got[0].map((p) => p.seq);
  expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
});

it('a TypeORM write on either instance is pushed once on each', async () => {
  const note = await a!.dataSource.getRepository(RdNote).save({ text: 'from a' });
  await b.dataSource.getRepository(RdNote).update(note.id, { rank: 9 });
  const got = await Promise.all([pushes(sa, 2), pushes(sb, 2)]);
  for (const list of got)
    expect(list.map((p) => [p.event, p.data.rank])).toEqual([
      ['rd.Note.created', 0],
      ['rd.Note.updated', 9],
    ]);
});

it('when one instance stops, the other publishes from where the outbox was left', async () => {
  await a!.close();
  a = undefined;
  sa.close();
  await outside(`INSERT INTO rd_note (text) VALUES ('after a stopped')`);
  const [push] = await pushes(sb, 1);
  expect(push.data.text).toBe('after a stopped');
  expect(sb.pushes()).toHaveLength(1);
});
