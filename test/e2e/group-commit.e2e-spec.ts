// Issue 12 target 1: writes of the bindings that wait for the one SQLite connection are
// committed together (actions/write-gate.ts). Each write is stored exactly when it answers
// success and pushes once after the commit; a write that fails in a group fails alone (rolled
// back to its savepoint), is neither stored nor pushed, and the others of its group still are,
// without running twice (SQLite and PostgreSQL; only SQLite groups).
import { IsInt, IsString } from 'class-validator';
import { Column, Entity, PrimaryGeneratedColumn, type EntitySubscriberInterface, type TransactionCommitEvent, type UpdateEvent } from 'typeorm';
import { Binding } from '../../lib/index.js';
import { testDb } from '../fixtures/database.js';
import { settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { alice, as, authenticateFromHeader, type TestUser } from '../fixtures/tenancy-fixtures.js';

/** A value the application's own subscriber refuses: the write fails after its UPDATE ran. */
const REFUSED = 666;

@Binding<Note>({ app: 'g', scope: (user: TestUser | null) => ({ tenant: user?.tenant ?? '\u0000none' }) })
@Entity()
class Note {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() tenant: string;
  @Column('int') @IsInt() value: number;
}

/** The application's subscriber: counts the commits of writes, refuses one value. */
class Audit implements EntitySubscriberInterface<Note> {
  commits = 0;
  /** How many times an UPDATE ran, by the value it wrote: a write run twice counts 2. */
  readonly runs = new Map<number, number>();
  listenTo() {
    return Note;
  }
  afterUpdate(event: UpdateEvent<Note>) {
    const value = event.entity?.value;
    if (typeof value === 'number') this.runs.set(value, (this.runs.get(value) ?? 0) + 1);
    if (value === REFUSED) throw new Error('audit refuses this value');
  }
  afterTransactionCommit(event: TransactionCommitEvent) {
    if (!event.queryRunner.isTransactionActive) this.commits++;
  }
}

let t: TestApp;
let audit: Audit;
let writers: TestSocket[];
let watcher: TestSocket;
beforeAll(async () => {
  t = await startApp([Note], { authenticate: authenticateFromHeader, limits: { framesPerSecond: 1_000_000, burst: 1_000_000 } });
  audit = new Audit();
  t.dataSource.subscribers.push(audit as EntitySubscriberInterface<any>);
  writers = await Promise.all([1, 2, 3].map(() => TestSocket.open(t.ws, as(alice))));
  watcher = await TestSocket.open(t.ws, as(alice));
  expect((await watcher.request('g.Note.subscribe', {})).error).toBeUndefined();
});
afterAll(async () => {
  for (const s of [...writers, watcher]) s.close();
  await t.close();
});

async function notes(count: number): Promise<Note[]> {
  const repo = t.dataSource.getRepository(Note);
  return repo.save(Array.from({ length: count }, (_, i) => repo.create({ tenant: 'acme', value: i })));
}
const stored = async (ids: number[]) => (await t.dataSource.getRepository(Note).findBy(ids.map((id) => ({ id })))).sort((a, b) => a.id - b.id);
/** The values pushed so far for `id`, in order. */
const pushed = (id: number) =>
  watcher
    .pushes()
    .filter((p) => p.event === 'g.Note.updated' && p.data.id === id)
    .map((p) => p.data.value);

it('concurrent writes are each stored, answered and pushed once, in fewer commits than writes on SQLite', async () => {
  const rows = await notes(60);
  const before = audit.commits;
  const replies = await Promise.all(rows.map((row, i) => writers[i % writers.length].request('g.Note.update', { id: row.id, value: 1000 + i })));
  expect(replies.map((r) => r.data?.value)).toEqual(rows.map((_, i) => 1000 + i));
  expect((await stored(rows.map((r) => r.id))).map((r) => r.value)).toEqual(rows.map((_, i) => 1000 + i));
  await settle(200);
  for (const [i, row] of rows.entries()) expect(pushed(row.id)).toEqual([1000 + i]);
  const commits = audit.commits - before;
  if (testDb === 'sqlite') expect(commits).toBeLessThan(rows.length / 2);
  else expect(commits).toBe(rows.length);
});

it('a write that fails in a group fails alone (its savepoint): the others are stored, answered and pushed once and run once, it is neither', async () => {
  const rows = await notes(30);
  const want = (i: number) => (i === 10 ? REFUSED : 2000 + i);
  const replies = await Promise.all(
    rows.map((row, i) =>
      writers[i % writers.length].request('g.Note.update', {
        id: row.id,
        value: want(i),
        // Leaves the writer's scope: refused after its UPDATE ran, nothing stored.
        ...(i === 20 ? { tenant: 'globex' } : {}),
      }),
    ),
  );
  expect(replies[10].error?.code).toBe('internal');
  expect(replies[20].error?.code).toBe('forbidden');
  const ok = rows.map((_, i) => i).filter((i) => i !== 10 && i !== 20);
  for (const i of ok) expect(replies[i].data?.value).toBe(want(i));
  const now = await stored(rows.map((r) => r.id));
  expect(now[10]).toMatchObject({ value: 10, tenant: 'acme' });
  expect(now[20]).toMatchObject({ value: 20, tenant: 'acme' });
  for (const i of ok) expect(now[i].value).toBe(want(i));
  await settle(200);
  expect(pushed(rows[10].id)).toEqual([]);
  expect(pushed(rows[20].id)).toEqual([]);
  for (const i of ok) expect(pushed(rows[i].id)).toEqual([want(i)]);
  // The failing writes cost the others nothing: no write of their groups ran a second time.
  for (const i of ok) expect(audit.runs.get(want(i))).toBe(1);
});

it('writes after a failed group keep being served', async () => {
  const [row] = await notes(1);
  expect((await writers[0].request('g.Note.update', { id: row.id, value: REFUSED })).error?.code).toBe('internal');
  expect((await writers[1].request('g.Note.update', { id: row.id, value: 7 })).data?.value).toBe(7);
  expect((await writers[2].request('g.Note.delete', { id: row.id })).data).toEqual({ id: row.id });
  expect(await stored([row.id])).toEqual([]);
});
