import { BindingsService } from '../../lib/index.js';
import { alice, as, authenticateFromHeader, bob, carol, Doc, DocHandler, subscribeDocs, type TestUser } from '../fixtures/tenancy-fixtures.js';
import { ok, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { SseReader } from '../fixtures/sse-reader.js';

/**
 * PROTOCOL.md section 4: a room of a scoped binding is numbered per scope. Tenant B's
 * changes must not show in anything tenant A gets: the subscribe reply's `seq`, a `since`
 * probe (what is replayed, and `recovered`), or the first `id:` of an SSE stream; and
 * users whose scopes are equal share one numbering. Section 3: `subscribe` answers
 * `{room, seq}`. Alice and Carol are tenant acme, Bob is tenant globex.
 */

let t: TestApp;
const sockets: TestSocket[] = [];
const readers: SseReader[] = [];
const N = 5;

beforeAll(async () => {
  t = await startApp([Doc], { authenticate: authenticateFromHeader, anonymous: false }, { providers: [DocHandler] });
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
  for (const reader of readers.splice(0)) reader.close();
});
afterAll(() => t.close());

async function open(user: TestUser): Promise<TestSocket> {
  const socket = await TestSocket.open(t.ws, as(user));
  sockets.push(socket);
  return socket;
}
/** A fresh socket of `user` that subscribes with `data` and answers the reply and the pushes that came before it. */
const probe = async (user: TestUser, data: object) => subscribeDocs(await open(user), data);
async function sse(user: TestUser, query: string): Promise<SseReader> {
  const reader = await SseReader.open(`${t.http}/api/t/Doc/events${query}`, as(user));
  readers.push(reader);
  await reader.waitFor(() => reader.blocks.length > 0);
  return reader;
}
/** Waits until `socket` has `count` pushes, then a little longer, and answers them. */
async function pushes(socket: TestSocket, count: number): Promise<any[]> {
  await socket.waitFor(() => socket.pushes().length >= count);
  await settle(50);
  return socket.pushes();
}

describe('subscribe answers the room and its last number', () => {
  it('{room, seq}, and recovered too with since', async () => {
    const a = await open(alice);
    const doc = await ok(a, 't.Doc.create', { title: 'numbered', tenant: 'acme' });
    expect(await ok(a, 't.Doc.subscribe', { id: doc.id })).toEqual({ room: `t.Doc:${doc.id}`, seq: 0 });
    await ok(a, 't.Doc.update', { id: doc.id, rank: 1 });
    await pushes(a, 1);
    expect(await ok(a, 't.Doc.subscribe', { id: doc.id, since: 1 })).toEqual({ room: `t.Doc:${doc.id}`, seq: 1, recovered: true });
  });
});

describe("another tenant's changes are not counted", () => {
  it('model room: reply, since probe and SSE id show only the own scope; equal scopes share the numbering', async () => {
    const a = await open(alice);
    const b = await open(bob);
    const start = (await ok(a, 't.Doc.subscribe', {})).seq as number;
    expect((await ok(b, 't.Doc.subscribe', {})).room).toBe('t.Doc'); // the same name for every tenant
    const bStart = (await ok(b, 't.Doc.subscribe', {})).seq as number;

    // Bob makes N changes; he gets each of them, numbered one after the other in his scope.
    const created = await ok(b, 't.Doc.create', { title: 'globex 1', tenant: 'globex' });
    for (let rank = 1; rank < N; rank++) await ok(b, 't.Doc.update', { id: created.id, rank });
    expect((await pushes(b, N)).map((p) => p.seq)).toEqual([1, 2, 3, 4, 5].map((i) => bStart + i));
    expect(a.pushes()).toEqual([]);

    // Alice's view of her room has not moved.
    expect((await probe(alice, {})).reply).toEqual({ room: 't.Doc', seq: start });
    expect(await probe(alice, { since: start })).toEqual({ reply: { room: 't.Doc', seq: start, recovered: true }, replayed: [] });
    expect(await probe(alice, { since: start + N })).toEqual({ reply: { room: 't.Doc', seq: start, recovered: false }, replayed: [] });
    expect((await sse(alice, '')).blocks[0].id).toBe(String(start));

    // Her own change is the next number; Carol (the same scope) shares it; a replay holds only it.
    const own = await ok(a, 't.Doc.create', { title: 'acme 1', tenant: 'acme' });
    expect((await pushes(a, 1)).map((p) => [p.seq, p.data.id])).toEqual([[start + 1, own.id]]);
    expect((await probe(carol, {})).reply).toEqual({ room: 't.Doc', seq: start + 1 });
    const replay = await probe(carol, { since: start });
    expect(replay.reply).toEqual({ room: 't.Doc', seq: start + 1, recovered: true });
    expect(replay.replayed.map((p) => [p.seq, p.data.id])).toEqual([[start + 1, own.id]]);
    expect((await sse(carol, '')).blocks[0].id).toBe(String(start + 1));
    expect(b.pushes()).toHaveLength(N); // and Bob's numbering did not count Alice's change
    expect((await probe(bob, {})).reply).toEqual({ room: 't.Doc', seq: bStart + N });
  });

  it('filter room: the same room name for both tenants, numbered per scope', async () => {
    const filter = { rank: 7001 };
    const a = await open(alice);
    const b = await open(bob);
    const mine = await ok(a, 't.Doc.subscribe', { filter });
    const theirs = await ok(b, 't.Doc.subscribe', { filter });
    expect(theirs.room).toBe(mine.room);
    expect(mine.room).toMatch(/^t\.Doc\?/);
    expect([mine.seq, theirs.seq]).toEqual([0, 0]);

    const doc = await ok(b, 't.Doc.create', { title: 'globex filtered', tenant: 'globex', rank: 7001 });
    for (let i = 1; i < N; i++) await ok(b, 't.Doc.update', { id: doc.id, title: `globex filtered ${i}` });
    expect((await pushes(b, N)).map((p) => [p.room, p.seq])).toEqual([1, 2, 3, 4, 5].map((seq) => [mine.room, seq]));
    expect(a.pushes()).toEqual([]);

    expect((await probe(alice, { filter })).reply).toEqual({ room: mine.room, seq: 0 });
    expect(await probe(alice, { filter, since: 0 })).toEqual({ reply: { room: mine.room, seq: 0, recovered: true }, replayed: [] });
    expect((await probe(alice, { filter, since: N })).reply).toEqual({ room: mine.room, seq: 0, recovered: false });
    expect((await sse(alice, `?filter=${encodeURIComponent(JSON.stringify(filter))}`)).blocks[0].id).toBe('0');

    // Carol shares Alice's numbering; a replay from 0 holds only acme's change.
    const own = await ok(a, 't.Doc.create', { title: 'acme filtered', tenant: 'acme', rank: 7001 });
    expect((await pushes(a, 1)).map((p) => p.seq)).toEqual([1]);
    const replay = await probe(carol, { filter, since: 0 });
    expect(replay.reply).toEqual({ room: mine.room, seq: 1, recovered: true });
    expect(replay.replayed.map((p) => [p.seq, p.data.id])).toEqual([[1, own.id]]);

    // unsubscribe {room} with the name clients see leaves the socket's own scope's room.
    expect(await ok(a, 't.Doc.unsubscribe', { room: mine.room })).toEqual({ room: mine.room });
    await ok(b, 't.Doc.update', { id: doc.id, rank: 7001, title: 'after' });
    await ok(a, 't.Doc.update', { id: own.id, title: 'after' });
    expect((await pushes(b, N + 1)).at(-1)).toMatchObject({ room: mine.room, seq: N + 1 });
    await settle(100);
    expect(a.pushes()).toHaveLength(1);
  });

  it('instance room: a row that moves to another tenant brings none of its earlier numbering', async () => {
    const b = await open(bob);
    const doc = await ok(b, 't.Doc.create', { title: 'moving', tenant: 'globex' });
    expect(await ok(b, 't.Doc.subscribe', { id: doc.id })).toEqual({ room: `t.Doc:${doc.id}`, seq: 0 });
    for (let rank = 1; rank <= N; rank++) await ok(b, 't.Doc.update', { id: doc.id, rank });
    expect((await pushes(b, N)).map((p) => p.seq)).toEqual([1, 2, 3, 4, 5]);
    // The application hands the row to acme (not a binding write: the writer's scope would refuse it).
    await t.dataSource.getRepository(Doc).update({ id: doc.id }, { tenant: 'acme' });
    await settle(100);
    expect(b.pushes()).toHaveLength(N); // Bob may no longer see it: no push

    expect((await probe(alice, { id: doc.id })).reply).toEqual({ room: `t.Doc:${doc.id}`, seq: 0 });
    expect(await probe(alice, { id: doc.id, since: 0 })).toEqual({ reply: { room: `t.Doc:${doc.id}`, seq: 0, recovered: true }, replayed: [] });
    expect((await probe(alice, { id: doc.id, since: N + 1 })).reply).toEqual({ room: `t.Doc:${doc.id}`, seq: 0, recovered: false });
    expect((await sse(alice, `?id=${doc.id}`)).blocks[0].id).toBe('0');

    const a = await open(alice);
    await ok(a, 't.Doc.subscribe', { id: doc.id });
    await ok(a, 't.Doc.update', { id: doc.id, title: 'moved' });
    expect((await pushes(a, 1)).map((p) => [p.room, p.seq, p.data.title])).toEqual([[`t.Doc:${doc.id}`, 1, 'moved']]);
  });

  it('a change is counted in a scope when the row is inside it before or after', async () => {
    const a = await open(alice);
    const start = (await ok(a, 't.Doc.subscribe', {})).seq as number;
    const repo = t.dataSource.getRepository(Doc);
    const doc = await repo.save({ title: 'travels', tenant: 'globex' });
    await repo.update({ id: doc.id }, { rank: 3 }); // outside acme: not counted
    await repo.update({ id: doc.id }, { tenant: 'acme' }); // enters acme: counted, pushed
    await repo.update({ id: doc.id }, { tenant: 'globex' }); // leaves acme: counted (Alice saw it before), not pushed
    await repo.update({ id: doc.id }, { rank: 4 }); // outside again: not counted
    expect((await pushes(a, 1)).map((p) => [p.seq, p.data.tenant])).toEqual([[start + 1, 'acme']]);
    await settle(100);
    expect(a.pushes()).toHaveLength(1);
    expect((await probe(alice, {})).reply).toEqual({ room: 't.Doc', seq: start + 2 });
  });
});

describe('one name, a room per scope', () => {
  it('application messages and the room list still address the room by its name, every scope included', async () => {
    const a = await open(alice);
    const b = await open(bob);
    const filter = { rank: 7333 };
    const { room } = await ok(a, 't.Doc.subscribe', { filter });
    await ok(b, 't.Doc.subscribe', { filter });
    const service = t.app.get(BindingsService);
    expect(service.rooms().filter((r) => r.room === room)).toEqual([{ room, subscribers: 2 }]);
    expect(service.presence(room).sort()).toEqual(['1', '2']);
    expect(service.broadcast(room, 'notice', { text: 'hello' })).toBe(2);
    for (const socket of [a, b]) expect(await socket.waitFor((f) => f.event === 'notice')).toMatchObject({ room, data: { text: 'hello' } });
  });
});
