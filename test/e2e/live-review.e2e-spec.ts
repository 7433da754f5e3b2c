import { IsInt, IsOptional, IsString } from 'class-validator';
import { Column, Entity, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Binding } from '../../lib/index.js';
import { LiveLists } from '../../lib/live/live-lists.js';
import { settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { SseReader } from '../fixtures/sse-reader.js';
import { openLive, type LiveUser } from '../fixtures/live-fixtures.js';

/**
 * Live lists (PROTOCOL.md section 9) under attack: what another tenant's writes cost a page,
 * and rows the page cannot send.
 */

const tenantScope = (user: LiveUser | null) => ({ tenant: user?.tenant ?? '-none-' });

/** A folder of one tenant: included by its tenant's documents. */
@Binding({ app: 'rv', scope: tenantScope })
@Entity()
class Folder {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() tenant: string;
  @Column() @IsString() name: string;
}

@Binding<Doc>({ app: 'rv', scope: tenantScope, relations: ['folder'] })
@Entity()
class Doc {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() tenant: string;
  @Column() @IsString() title: string;
  @Column({ type: 'int', nullable: true }) @IsOptional() @IsInt() folderId?: number | null;
  @ManyToOne(() => Folder, { nullable: true }) folder?: Relation<Folder>;
}

/** A serialize hook that answers what JSON cannot write (a BigInt) for one row. */
@Binding({ app: 'rv', serialize: (row: any) => ({ ...row, big: row.name === 'big' ? BigInt(1) : null }) })
@Entity()
class Gauge {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() name: string;
}

/** Rows whose text any writer may make large after a page holds them. */
@Binding({ app: 'rv', scope: tenantScope })
@Entity()
class Note {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() tenant: string;
  @Column('text') @IsString() body: string;
}

/** The tenant is an excluded column: moving a row to another tenant changes nothing a push could show. */
@Binding({ app: 'rv', scope: tenantScope, exclude: ['tenant', 'secret'] })
@Entity()
class Task {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() tenant: string;
  @Column('int') @IsInt() rank: number;
  @Column({ nullable: true }) @IsOptional() @IsString() secret?: string;
}

/** Bytes one user may hold in live pages in this suite. */
const PER_USER = 1024 * 1024;

const acme: LiveUser = { id: 1, tenant: 'acme' };
const globex: LiveUser = { id: 2, tenant: 'globex' };

let t: TestApp;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  t = await startApp([Folder, Doc, Gauge, Note, Task], {
    limits: { liveListBytesPerUser: PER_USER },
    authenticate: (req) => {
      const raw = req.headers['x-user'];
      return typeof raw === 'string' ? JSON.parse(raw) : null;
    },
  });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t.close();
});

async function open(user?: LiveUser): Promise<TestSocket> {
  const s = await TestSocket.open(t.ws, user ? { 'x-user': JSON.stringify(user) } : undefined);
  sockets.push(s);
  return s;
}

async function quiet(): Promise<void> {
  const live = t.app.get(LiveLists);
  for (let i = 0; i < 500 && !live.idle(); i++) await settle(5);
  expect(live.idle()).toBe(true);
}

describe('a page that includes a scoped binding', () => {
  it("is not read again for another tenant's changes of the included binding, and its frames carry only its own changes", async () => {
    const live = t.app.get(LiveLists);
    const mine = await t.dataSource.getRepository(Folder).save({ tenant: 'acme', name: 'inbox' });
    await t.dataSource.getRepository(Doc).save({ tenant: 'acme', title: 'a', folderId: mine.id });
    const a = await open(acme);
    const copy = await openLive(a, 'rv.Doc.list', { include: ['folder'], order: { title: 'ASC' } });
    expect(copy.rows).toEqual([
      { id: expect.any(Number), tenant: 'acme', title: 'a', folderId: mine.id, folder: { id: mine.id, tenant: 'acme', name: 'inbox' } },
    ]);
    await quiet();
    const reads = live.stats().reads;

    // Another tenant writes its own folders: nothing of acme's page can change.
    const g = await open(globex);
    const theirs = await g.request('rv.Folder.create', { tenant: 'globex', name: 'x' });
    expect(theirs.error).toBeUndefined();
    for (let i = 0; i < 5; i++) await g.request('rv.Folder.update', { id: theirs.data.id, name: `x${i}` });
    await quiet();
    expect(live.stats().reads).toBe(reads);

    // A change of acme's own folder is read and sent, with the id of that change.
    const sub = await a.request('rv.Folder.subscribe', { id: mine.id });
    expect(sub.error).toBeUndefined();
    await t.dataSource.getRepository(Folder).update({ id: mine.id }, { name: 'archive' });
    const push = await a.waitFor((f) => f.event === 'rv.Folder.updated');
    const frame = await a.waitFor((f) => f.room === copy.room);
    expect(frame.change).toBe(push.change);
    expect(live.stats().reads).toBe(reads + 1);
  });
});

describe('a page whose rows JSON cannot write', () => {
  it('never stops the process: the read is logged and tried again, and other requests are answered', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const s = await open();
      // Ordered by a string: every change reads the page again.
      const copy = await openLive(s, 'rv.Gauge.list', { order: { name: 'ASC' } });
      expect(copy.count).toBe(0);
      await t.dataSource.getRepository(Gauge).save({ name: 'big' });
      await settle(200);
      expect(rejections).toEqual([]);
      const other = await (await open()).request('rv.Folder.list', {});
      expect(other.error).toBeUndefined();
      // The page is read again after its back-off (1 s) and becomes current once the row is gone.
      await t.dataSource.getRepository(Gauge).save({ name: 'ok' });
      await t.dataSource.getRepository(Gauge).delete({ name: 'big' });
      await settle(1200);
      await quiet();
      copy.catchUp();
      const fresh = await s.request('rv.Gauge.list', { order: { name: 'ASC' } });
      expect({ count: copy.count, rows: copy.rows, errors: copy.errors }).toEqual({ count: 1, rows: fresh.data.rows, errors: [] });
      expect(fresh.data.rows).toEqual([{ id: expect.any(Number), name: 'ok', big: null }]);
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});

describe('the bytes of live pages whose rows grow', () => {
  it("are charged to their users: one a page's growth would put over its bound loses that list, told by an error frame", async () => {
    const live = t.app.get(LiveLists);
    const budget = live['rooms'].memory.liveLists;
    const notes = t.dataSource.getRepository(Note);
    const note = await notes.save({ tenant: 'acme', body: 'short' });
    const held = budget.usedBy('1'); // acme's pages of the tests above
    const a = await open(acme);
    const copy = await openLive(a, 'rv.Note.list', { order: { id: 'ASC' }, limit: 1 });
    expect(copy.rows).toEqual([{ id: note.id, tenant: 'acme', body: 'short' }]);
    const members = live.stats().members;
    expect(budget.usedBy('1') - held).toBeLessThan(PER_USER / 10);

    // Another writer makes the row large: the page would hold about 4 x 3 copies of it.
    await notes.update({ id: note.id }, { body: 'x'.repeat(150_000) });
    const ended = await a.waitFor((f) => f.room === copy.room && f.error);
    expect(ended).toMatchObject({ event: 'rv.Note.list.changed', room: copy.room, error: { code: 'bad_request' } });
    expect(ended.error.message).toContain(`${PER_USER} bytes per user`);
    await quiet();
    expect(live.stats().members).toBe(members - 1);
    expect(budget.usedBy('1')).toBe(held);
    // The list is over: later changes send nothing, and the same request is refused while the row is this large.
    await notes.update({ id: note.id }, { body: 'y'.repeat(150_000) });
    await quiet();
    expect(a.frames.filter((f) => f.room === copy.room && !f.error)).toHaveLength(0);
    const again = await a.request('rv.Note.list', { order: { id: 'ASC' }, limit: 1, live: true });
    expect(again.error).toMatchObject({ code: 'bad_request' });
  });
});

describe('the bytes of a live list over Server-Sent Events whose rows grow', () => {
  it('the stream gets the error as its last `changed` event and ends; its page is freed', async () => {
    const live = t.app.get(LiveLists);
    const notes = t.dataSource.getRepository(Note);
    const note = await notes.save({ tenant: 'globex', body: 'short' });
    const pages = live.stats().pages;
    const reader = await SseReader.open(`${t.http}/api/rv/Note/live?order=id&limit=1`, { 'x-user': JSON.stringify(globex) });
    const page = await reader.waitFor(() => reader.events().find((e) => e.event === 'page'));
    expect(page.frame.rows).toEqual([{ id: note.id, tenant: 'globex', body: 'short' }]);
    await notes.update({ id: note.id }, { body: 'x'.repeat(150_000) });
    const ended = await reader.waitFor(() => reader.events().find((e) => e.event === 'changed'));
    expect(ended.frame).toMatchObject({ room: page.frame.room, error: { code: 'bad_request' } });
    await reader.waitFor(() => reader.ended);
    for (let i = 0; i < 100 && live.stats().pages !== pages; i++) await settle(10);
    expect(live.stats().pages).toBe(pages);
    await notes.delete({ id: note.id });
  });
});

describe('a row moved to another tenant by an excluded column', () => {
  it("leaves the old tenant's live page and enters the new one's, with no row push to either (model-room subscribers)", async () => {
    const tasks = t.dataSource.getRepository(Task);
    const task = await tasks.save({ tenant: 'acme', rank: 1 });
    const a = await open(acme);
    const g = await open(globex);
    const query = { order: { rank: 'ASC' } };
    const mine = await openLive(a, 'rv.Task.list', query);
    const theirs = await openLive(g, 'rv.Task.list', query);
    expect(mine.rows).toEqual([{ id: task.id, rank: 1 }]);
    expect(theirs.rows).toEqual([]);
    for (const s of [a, g]) expect((await s.request('rv.Task.subscribe', {})).error).toBeUndefined();
    // An excluded column that moves nothing: no push, no frame.
    await tasks.update({ id: task.id }, { secret: 'hush' });
    await quiet();
    await settle(50);
    expect(a.frames.filter((f) => f.room === mine.room)).toHaveLength(0);
    await tasks.update({ id: task.id }, { tenant: 'globex' });
    await g.waitFor((f) => f.room === theirs.room);
    await a.waitFor((f) => f.room === mine.room);
    await quiet();
    mine.catchUp();
    theirs.catchUp();
    expect({ count: mine.count, rows: mine.rows }).toEqual({ count: 0, rows: [] });
    expect({ count: theirs.count, rows: theirs.rows }).toEqual({ count: 1, rows: [{ id: task.id, rank: 1 }] });
    expect([...a.frames, ...g.frames].filter((f) => typeof f.event === 'string' && /^rv\.Task\.(created|updated|deleted)$/.test(f.event))).toEqual([]);
  });
});
