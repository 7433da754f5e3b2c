import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import fc from 'fast-check';
import { delay, type Observable } from 'rxjs';
import { In, LessThan } from 'typeorm';
import { LiveLists } from '../../lib/live/live-lists.js';
import { http, readUserHeader, settle, startApp, TestSocket, userHeader, type TestApp } from '../fixtures/harness.js';
import { SseReader } from '../fixtures/sse-reader.js';
import { Card, Coin, LiveCopy, Memo, openLive, Shelf, Tick, Vault, type LiveUser } from '../fixtures/live-fixtures.js';

/**
 * PROTOCOL.md section 9: live lists. A copy kept by applying the frames must equal a fresh
 * list of the same request by the same user whenever no change is in flight.
 */

const acme: LiveUser = { id: 1, tenant: 'acme' };
const globex: LiveUser = { id: 2, tenant: 'globex' };

let t: TestApp;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  t = await startApp([Card, Shelf, Tick, Memo, Vault, Coin], {
    // The property test compares every page after each step: many requests per second.
    limits: { framesPerSecond: 100_000, burst: 100_000 },
    authenticate: readUserHeader,
  });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t.close();
});

async function open(user?: LiveUser): Promise<TestSocket> {
  const s = await TestSocket.open(t.ws, user ? userHeader(user) : undefined);
  sockets.push(s);
  return s;
}

const cards = () => t.dataSource.getRepository(Card);
const ticks = () => t.dataSource.getRepository(Tick);

/** Waits until the copy's socket has been quiet a moment, applies its frames, and checks it against a fresh list. */
async function expectCurrent(copy: LiveCopy, event: string, data: Record<string, unknown>): Promise<void> {
  await settle(80);
  copy.catchUp();
  const fresh = await copy.socket.request(event, data);
  expect(fresh.error).toBeUndefined();
  expect(copy.errors).toEqual([]);
  expect({ count: copy.count, rows: copy.rows }).toEqual({ count: fresh.data.count, rows: fresh.data.rows });
}

describe('a live list over WebSocket', () => {
  it('answers the page with room and seq, then one frame per commit with ops and count', async () => {
    const s = await open();
    await ticks().save([
      { n: 5, tag: 'a' },
      { n: 1, tag: 'a' },
      { n: 3, tag: 'a' },
    ]);
    const query = { filter: { tag: 'a' }, order: { n: 'ASC' }, limit: 2 };
    const copy = await openLive(s, 'live.Tick.list', query);
    expect(copy.room).toMatch(/^live\.Tick#[\w-]{16}$/);
    expect(copy.seq).toBe(0);
    expect(copy.count).toBe(3);
    expect(copy.rows.map((r) => r.n)).toEqual([1, 3]);

    await ticks().save({ n: 2, tag: 'a' });
    const frame = await s.waitFor((f) => f.event === 'live.Tick.list.changed');
    expect(frame).toMatchObject({ room: copy.room, seq: 1, count: 4 });
    expect(typeof frame.change).toBe('string');
    // The row that leaves goes first, then the one that enters takes its place.
    expect(frame.ops).toEqual([
      ['remove', 1],
      ['insert', 1, { id: expect.any(Number), n: 2, tag: 'a', gone: null }],
    ]);
    await expectCurrent(copy, 'live.Tick.list', query);
  });

  it('sends the changes of one transaction in one frame, and nothing for a rollback', async () => {
    const s = await open();
    const query = { filter: { tag: 'tx' }, order: { n: 'DESC' } };
    const copy = await openLive(s, 'live.Tick.list', query);
    await t.dataSource.transaction(async (manager) => {
      await manager.save(Tick, { n: 1, tag: 'tx' });
      await manager.save(Tick, { n: 2, tag: 'tx' });
      await manager.save(Tick, { n: 3, tag: 'tx' });
    });
    await expect(
      t.dataSource.transaction(async (manager) => {
        await manager.save(Tick, { n: 4, tag: 'tx' });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await settle(100);
    copy.catchUp();
    expect(copy.frames).toBe(1);
    expect(copy.seq).toBe(1);
    expect(copy.rows.map((r) => r.n)).toEqual([3, 2, 1]);
    await expectCurrent(copy, 'live.Tick.list', query);
  });

  it('sends a multi-row insert made outside a transaction as one frame (one statement, one commit)', async () => {
    const s = await open();
    const query = { filter: { tag: 'bulk' }, order: { n: 'ASC' } };
    const copy = await openLive(s, 'live.Tick.list', query);
    await ticks().insert([
      { n: 3, tag: 'bulk' },
      { n: 1, tag: 'bulk' },
      { n: 2, tag: 'bulk' },
    ]);
    await s.waitFor((f) => f.event === 'live.Tick.list.changed');
    await settle(100);
    copy.catchUp();
    expect(copy.frames).toBe(1);
    expect(copy.count).toBe(3);
    expect(copy.rows.map((r) => r.n)).toEqual([1, 2, 3]);
    await expectCurrent(copy, 'live.Tick.list', query);
  });
});

describe('a live list over Server-Sent Events', () => {
  it('streams the page, then each frame as `changed`, both with id: seq', async () => {
    await cards().save([
      { tenant: 'acme', rank: 101, price: 1, label: 'sse' },
      { tenant: 'globex', rank: 102, price: 1, label: 'sse' },
    ]);
    const filter = encodeURIComponent(JSON.stringify({ label: 'sse' }));
    const reader = await SseReader.open(`${t.http}/api/live/Card/live?filter=${filter}&order=-rank&limit=5`, userHeader(acme));
    const page = await reader.waitFor(() => reader.events().find((e) => e.event === 'page'));
    expect(page.id).toBe('0');
    expect(page.frame).toMatchObject({ page: 1, limit: 5, count: 1, seq: 0, rows: [expect.objectContaining({ rank: 101 })] });
    expect(page.frame.room).toMatch(/^live\.Card#/);

    await cards().save({ tenant: 'acme', rank: 103, price: 1, label: 'sse' });
    await cards().save({ tenant: 'globex', rank: 104, price: 1, label: 'sse' }); // another tenant: nothing
    const changed = await reader.waitFor(() => reader.events().find((e) => e.event === 'changed'));
    expect(changed.id).toBe('1');
    expect(changed.frame).toMatchObject({
      event: 'live.Card.list.changed',
      room: page.frame.room,
      seq: 1,
      count: 2,
      ops: [['insert', 0, expect.objectContaining({ rank: 103 })]],
    });
    await settle(100);
    expect(reader.events().filter((e) => e.event === 'changed')).toHaveLength(1);
    reader.close();
  });

  it('is in the OpenAPI document', async () => {
    const doc = await http(t.http, 'GET', '/api/docs-json');
    expect(doc.body.paths['/api/live/Card/live'].get.parameters.map((p: any) => p.name)).toEqual(['filter', 'order', 'limit', 'page', 'q', 'include']);
  });

  it('answers a bad request as JSON before the stream starts', async () => {
    const res = await http(t.http, 'GET', `/api/live/Card/live?order=-nope`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bad_request');
    const unknown = await http(t.http, 'GET', `/api/live/Card/live?fitler=x`);
    expect(unknown.status).toBe(400);
  });

  it('a closed stream frees its page', async () => {
    const live = t.app.get(LiveLists);
    const before = live.stats().pages;
    const reader = await SseReader.open(`${t.http}/api/live/Card/live?filter=${encodeURIComponent(JSON.stringify({ label: 'sse-free' }))}`, userHeader(acme));
    await reader.waitFor(() => reader.events().find((e) => e.event === 'page'));
    expect(live.stats().pages).toBe(before + 1);
    reader.close();
    for (let i = 0; i < 100 && live.stats().pages !== before; i++) await settle(10);
    expect(live.stats().pages).toBe(before);
  });
});

describe('who sees what, and what a socket may hold', () => {
  it("another tenant's changes never show in the page, the count or the seq", async () => {
    const g = await open(globex);
    const query = { filter: { label: 'iso' }, order: { rank: 'ASC' } };
    const copy = await openLive(g, 'live.Card.list', query);
    expect(copy.count).toBe(0);
    const a = await open(acme);
    const made = await a.request('live.Card.create', { tenant: 'acme', rank: 1, price: 1, label: 'iso' });
    expect(made.error).toBeUndefined();
    await a.request('live.Card.update', { id: made.data.id, rank: 2 });
    await cards().save({ tenant: 'acme', rank: 3, price: 3, label: 'iso' });
    await cards().delete(made.data.id);
    await quiet();
    await settle(50);
    expect(g.frames.filter((f) => f.room === copy.room)).toHaveLength(0);
    // The same request by acme is another page, numbered on its own.
    const mine = await openLive(a, 'live.Card.list', query);
    expect(mine.room).toBe(copy.room);
    expect(mine.count).toBe(1);
    await cards().save({ tenant: 'globex', rank: 1, price: 1, label: 'iso' });
    const frame = await g.waitFor((f) => f.room === copy.room);
    expect(frame).toMatchObject({ seq: 1, count: 1 });
    await settle(50);
    expect(a.frames.filter((f) => f.room === mine.room)).toHaveLength(0);
  });

  it("a change is offered only to the pages of its row's tenant, not to every tenant's", async () => {
    const live = t.app.get(LiveLists);
    const tenants = Array.from({ length: 30 }, (_, i) => ({ id: 100 + i, tenant: `t${i}` }));
    for (const user of tenants) await openLive(await open(user), 'live.Card.list', { filter: { label: 'idx' } });
    const before = live.stats().offered;
    await cards().save({ tenant: 't7', rank: 1, price: 1, label: 'idx' });
    await quiet();
    // The page of tenant t7, and the pages of this suite that are not indexed by tenant (Tick, Coin…) are of other streams.
    expect(live.stats().offered - before).toBe(1);
  });

  it('holds the same request once, ends it on unsubscribe, and does not subscribe to row pushes', async () => {
    const s = await open(acme);
    const live = t.app.get(LiveLists);
    const query = { filter: { label: 'twice' } };
    const first = await openLive(s, 'live.Card.list', query);
    const members = live.stats().members;
    const second = await openLive(s, 'live.Card.list', query);
    expect(second.room).toBe(first.room);
    expect(live.stats().members).toBe(members);
    await cards().save({ tenant: 'acme', rank: 1, price: 1, label: 'twice' });
    await s.waitFor((f) => f.room === first.room && f.seq === 1);
    await settle(50);
    expect(s.frames.filter((f) => f.room === first.room)).toHaveLength(1); // one frame, not one per request
    expect(s.frames.filter((f) => f.event === 'live.Card.created')).toHaveLength(0); // no row push
    const bye = await s.request('live.Card.unsubscribe', { room: first.room });
    expect(bye.data).toEqual({ room: first.room });
    expect(live.stats().members).toBe(members - 1);
    await cards().save({ tenant: 'acme', rank: 2, price: 1, label: 'twice' });
    await settle(100);
    expect(s.frames.filter((f) => f.room === first.room)).toHaveLength(1);
  });

  it('a closed socket frees its pages and their bytes', async () => {
    const live = t.app.get(LiveLists);
    const budget = t.app.get(LiveLists)['rooms'].memory.liveLists;
    const pages = live.stats().pages;
    const used = budget.used;
    const s = await open(acme);
    await openLive(s, 'live.Card.list', { filter: { label: 'gone-1' } });
    await openLive(s, 'live.Card.list', { filter: { label: 'gone-2' }, order: { price: 'DESC' } });
    expect(live.stats().pages).toBe(pages + 2);
    expect(budget.used).toBeGreaterThan(used);
    expect(budget.usedBy('1')).toBeGreaterThan(0);
    s.close();
    for (let i = 0; i < 100 && live.stats().pages !== pages; i++) await settle(10);
    expect(live.stats().pages).toBe(pages);
    expect(budget.used).toBe(used);
  });

  it("an included row that can.retrieve shows to one user only is never shared with another user's page", async () => {
    const vault = await t.dataSource.getRepository(Vault).save({ label: 'gold' });
    await t.dataSource.getRepository(Coin).save({ value: 1, vaultId: vault.id });
    const query = { filter: { vaultId: vault.id }, include: ['vault'], order: { value: 'ASC' } };
    const mine = await openLive(await open(acme), 'live.Coin.list', query); // user 1 may retrieve the vault
    const theirs = await openLive(await open(globex), 'live.Coin.list', query);
    expect(mine.room).toBe(theirs.room);
    expect(mine.rows[0].vault).toEqual({ id: vault.id, label: 'gold' });
    expect(theirs.rows[0].vault).toBeNull();
    await t.dataSource.getRepository(Vault).update({ id: vault.id }, { label: 'silver' }); // a change of the included binding
    await t.dataSource.getRepository(Coin).save({ value: 2, vaultId: vault.id });
    await quiet();
    await compare(mine, 'live.Coin.list', query, 'include, user 1');
    await compare(theirs, 'live.Coin.list', query, 'include, user 2');
    expect(mine.rows.map((r) => (r.vault as any)?.label)).toEqual(['silver', 'silver']);
    expect(theirs.rows.map((r) => r.vault)).toEqual([null, null]);
    expect(JSON.stringify(theirs.socket.frames)).not.toContain('silver');
  });

  it('refuses live over plain HTTP and a live that is not a boolean', async () => {
    const res = await http(t.http, 'POST', '/api/events', { event: 'live.Card.list', data: { live: true } }, userHeader(acme));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/WebSocket/);
    const s = await open(acme);
    const reply = await s.request('live.Card.list', { live: 'yes' });
    expect(reply.error).toMatchObject({ code: 'bad_request', details: [expect.objectContaining({ field: 'live' })] });
  });
});

describe('what a change costs (the README table): page reads per case', () => {
  const reads = () => t.app.get(LiveLists).stats().reads;
  /** Runs `change`, waits for its frames, and answers how many page reads it cost; the copy must still be current. */
  async function cost(copy: LiveCopy, query: Record<string, unknown>, change: () => Promise<unknown>): Promise<number> {
    const before = reads();
    await change();
    await quiet();
    const spent = reads() - before;
    await compare(copy, 'live.Tick.list', query, 'cost');
    return spent;
  }
  const seed = async (tag: string, ns: number[]) => ticks().save(ns.map((n) => ({ n, tag })));

  it('page 1 ordered by a number: entering, moving, and leaving while the reserve lasts cost no read', async () => {
    // limit 2: the page keeps 2 more rows after it (its reserve).
    const query = { filter: { tag: 'c1' }, order: { n: 'ASC' }, limit: 2 };
    const rows = await seed('c1', [10, 20, 30, 40, 50, 60]);
    const s = await open();
    const copy = await openLive(s, 'live.Tick.list', query);
    const subscribers = await Promise.all(Array.from({ length: 20 }, async () => openLive(await open(), 'live.Tick.list', query)));
    expect(await cost(copy, query, () => ticks().save({ n: 15, tag: 'c1' }))).toBe(0); // enters a full page 1 between rows
    expect(await cost(copy, query, () => ticks().save({ n: 99, tag: 'c1' }))).toBe(0); // after everything kept: the count only
    expect(await cost(copy, query, () => ticks().update({ id: rows[1].id }, { n: 12 }))).toBe(0); // moves inside the page
    expect(await cost(copy, query, () => ticks().update({ id: rows[0].id }, { tag: 'c1' }))).toBe(0); // touches nothing
    expect(await cost(copy, query, () => ticks().save({ n: 5, tag: 'other' }))).toBe(0); // outside the filter
    // Kept: 10 12 | 15 30. Each delete leaves the page; the next row comes from the reserve.
    expect(await cost(copy, query, () => ticks().delete(rows[0].id))).toBe(0);
    expect(await cost(copy, query, () => ticks().delete(rows[1].id))).toBe(0);
    // Kept: 15 30: the reserve is used up, the next leave reads the page (and a new reserve) once.
    expect(await cost(copy, query, () => ticks().delete(rows[2].id))).toBe(1);
    expect(await cost(copy, query, () => ticks().delete(rows[3].id))).toBe(0);
    for (const other of subscribers) {
      other.catchUp();
      expect({ rows: other.rows, count: other.count }).toEqual({ rows: copy.rows, count: copy.count });
    }
  });

  it('a page that is not full: leaving costs no read, and so does a soft delete', async () => {
    const query = { filter: { tag: 'c2' }, order: { n: 'DESC' }, limit: 5 };
    const rows = await seed('c2', [1, 2, 3]);
    const copy = await openLive(await open(), 'live.Tick.list', query);
    expect(await cost(copy, query, () => ticks().delete(rows[0].id))).toBe(0);
    expect(await cost(copy, query, () => ticks().softDelete(rows[1].id))).toBe(0);
    expect(await cost(copy, query, () => ticks().save({ n: 0, tag: 'c2' }))).toBe(0); // at the end of a page with no row after it
  });

  it('page 3: rows entering or leaving before it shift rows across its edge, from the reserve before it until it runs out', async () => {
    // limit 2, page 3: the page keeps the 2 rows before it and the 2 after it.
    const query = { filter: { tag: 'c3' }, order: { n: 'ASC' }, limit: 2, page: 3 };
    const rows = await seed('c3', [10, 20, 30, 40, 50, 60, 70, 80, 90]);
    const copy = await openLive(await open(), 'live.Tick.list', query);
    expect(copy.rows.map((r) => r.n)).toEqual([50, 60]);
    expect(await cost(copy, query, () => ticks().delete(rows[0].id))).toBe(0); // leaves before the page: the page moves down
    expect(await cost(copy, query, () => ticks().save({ n: 35, tag: 'c3' }))).toBe(0); // enters between kept rows before the page
    expect(await cost(copy, query, () => ticks().save({ n: 1, tag: 'c3' }))).toBe(0); // enters before every kept row
    // Every kept row before the page has been pushed into it: the next one reads (and keeps a new reserve).
    expect(await cost(copy, query, () => ticks().save({ n: 2, tag: 'c3' }))).toBe(1);
    expect(await cost(copy, query, () => ticks().save({ n: 3, tag: 'c3' }))).toBe(0);
    expect(await cost(copy, query, () => ticks().save({ n: 99, tag: 'c3' }))).toBe(0); // after everything kept
  });

  it('an order on a string, or a transaction with several changes, still costs at most one read per page', async () => {
    const query = { filter: { tag: 'c4' }, order: { tag: 'ASC' }, limit: 3 };
    await seed('c4', [1, 2]);
    const copy = await openLive(await open(), 'live.Tick.list', query);
    expect(await cost(copy, query, () => ticks().save({ n: 3, tag: 'c4' }))).toBe(1);
    const byNumber = { filter: { tag: 'c4' }, order: { n: 'ASC' }, limit: 2 };
    const other = await openLive(await open(), 'live.Tick.list', byNumber);
    const spent = await cost(other, byNumber, () =>
      t.dataSource.transaction(async (manager) => {
        for (const n of [0, -1, -2, 7]) await manager.save(Tick, { n, tag: 'c4' });
      }),
    );
    // Both pages: the string-ordered one reads once, the other applies the commit in memory (its changes were captured after its last read).
    expect(spent).toBe(1);
  });
});

describe('fairness', () => {
  it("another user's request is answered while one user's many pages are being read again", async () => {
    // Pages ordered by a string: every commit that touches them reads each one again.
    await ticks().save(Array.from({ length: 1500 }, (_, i) => ({ n: i, tag: `fair-${i % 60}` })));
    const heavy = await open(acme);
    for (let k = 0; k < 60; k++)
      await openLive(heavy, 'live.Tick.list', { filter: { $or: [{ tag: `fair-${k}` }, { n: { gte: 100_000 } }] }, order: { tag: 'DESC' }, limit: 10 });
    const other = await open(globex);
    const live = t.app.get(LiveLists);
    const reads = live.stats().reads;
    // One row that enters all 60 pages, and at once another user's plain list.
    await ticks().save({ n: 100_000, tag: 'fair-all' });
    const answered = await other.request('live.Tick.list', { filter: { tag: 'fair-0' }, limit: 1 });
    expect(answered.error).toBeUndefined();
    const doneWhenAnswered = live.stats().reads - reads;
    await quiet();
    expect(live.stats().reads - reads).toBe(60);
    expect(doneWhenAnswered).toBeLessThan(60);
  });
});

/** Holds the reply of a live list back, as a slow interceptor of the application would. */
@Injectable()
class SlowLiveReplies implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const live = context.getType() === 'ws' && (context.switchToWs().getData() as any)?.live === true;
    return live ? next.handle().pipe(delay(300)) : next.handle();
  }
}

describe('a frame never arrives before its page', () => {
  let slow: TestApp;
  beforeAll(async () => {
    slow = await startApp([Card, Shelf, Tick, Memo, Vault, Coin], {}, { providers: [{ provide: APP_INTERCEPTOR, useClass: SlowLiveReplies }] });
  });
  afterAll(() => slow.close());

  it('holds the frames of a commit made while the reply waits in an interceptor, and sends them after it', async () => {
    const s = await TestSocket.open(slow.ws);
    const reply = s.request('live.Tick.list', { filter: { tag: 'held' }, live: true });
    // The page is held from the moment it was read; the reply is still in the interceptor.
    for (let i = 0; i < 100 && slow.app.get(LiveLists).stats().members === 0; i++) await settle(5);
    await slow.dataSource.getRepository(Tick).save({ n: 1, tag: 'held' });
    const answer = await reply;
    const frame = await s.waitFor((f) => f.event === 'live.Tick.list.changed');
    expect(s.frames.indexOf(answer)).toBeLessThan(s.frames.indexOf(frame));
    expect(answer.data.count).toBe(0);
    expect(frame).toMatchObject({ seq: 1, count: 1 });
    s.close();
  });
});

describe('limits', () => {
  let small: TestApp;
  const smallSockets: TestSocket[] = [];
  beforeAll(async () => {
    small = await startApp([Card, Shelf, Tick, Memo], {
      limits: { liveLists: 2, subscriptionsPerSocket: 3, liveListBytesPerUser: 80_000 },
      authenticate: readUserHeader,
    });
  });
  afterAll(async () => {
    for (const s of smallSockets) s.close();
    await small.close();
  });
  const openSmall = async (user: LiveUser) => {
    const s = await TestSocket.open(small.ws, userHeader(user));
    smallSockets.push(s);
    return s;
  };

  it('limits.liveLists per socket: over it bad_request, and a freed slot can be used again', async () => {
    const s = await openSmall(acme);
    const a = await openLive(s, 'live.Tick.list', { filter: { tag: 'l1' }, limit: 2 });
    await openLive(s, 'live.Tick.list', { filter: { tag: 'l2' }, limit: 2 });
    const third = await s.request('live.Tick.list', { filter: { tag: 'l3' }, limit: 2, live: true });
    expect(third.error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/at most 2 live lists/) });
    await s.request('live.Tick.unsubscribe', { room: a.room });
    await openLive(s, 'live.Tick.list', { filter: { tag: 'l3' }, limit: 2 });
  });

  it('live lists count toward subscriptionsPerSocket', async () => {
    const s = await openSmall(globex);
    expect((await s.request('live.Tick.subscribe', { filter: { tag: 's1' } })).error).toBeUndefined();
    expect((await s.request('live.Tick.subscribe', { filter: { tag: 's2' } })).error).toBeUndefined();
    await openLive(s, 'live.Tick.list', { filter: { tag: 's3' }, limit: 2 });
    const over = await s.request('live.Tick.list', { filter: { tag: 's4' }, limit: 2, live: true });
    expect(over.error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/at most 3 subscriptions/) });
    const subscribe = await s.request('live.Tick.subscribe', { filter: { tag: 's5' } });
    expect(subscribe.error).toMatchObject({ code: 'bad_request' });
  });

  it('the bytes a user holds in live pages are bounded, over all its sockets; other users are not affected', async () => {
    const user: LiveUser = { id: 77, tenant: 'acme' };
    const [s1, s2] = [await openSmall(user), await openSmall(user)];
    // A page of up to 10 rows and its reserves (10 before, 10 after) is charged as if full: about 32 kB.
    await openLive(s1, 'live.Card.list', { filter: { label: 'b1' }, limit: 10 });
    await openLive(s2, 'live.Card.list', { filter: { label: 'b2' }, limit: 10 });
    const over = await s2.request('live.Card.list', { filter: { label: 'b3' }, limit: 10, live: true });
    expect(over.error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/bytes per user of live lists/) });
    const other = await openSmall({ id: 78, tenant: 'acme' });
    await openLive(other, 'live.Card.list', { filter: { label: 'b3' }, limit: 10 });
  });
});

describe('autoSubscribe with list and search (section 3)', () => {
  it('a list or search subscribes to the filter room of its filter, under can.subscribe', async () => {
    const s = await open();
    const listed = await s.request('live.Memo.list', { filter: { tag: 'auto' } });
    expect(listed.error).toBeUndefined();
    await t.dataSource.getRepository(Memo).save({ tag: 'auto' });
    const push = await s.waitFor((f) => f.event === 'live.Memo.created');
    expect(push.room).toMatch(/^live\.Memo\?/);
    const refused = await s.request('live.Memo.search', { filter: { tag: 'private' } });
    expect(refused.error).toBeUndefined(); // the search answers; no subscription is made
    await t.dataSource.getRepository(Memo).save({ tag: 'private' });
    await settle(100);
    expect(s.frames.filter((f) => f.event === 'live.Memo.created' && f.data.tag === 'private')).toHaveLength(0);
  });
});

/** Resolves once no kept page is being read: every frame of the last commit has been sent. */
async function quiet(): Promise<void> {
  const live = t.app.get(LiveLists);
  for (let i = 0; i < 500 && !live.idle(); i++) await settle(5);
  expect(live.idle()).toBe(true);
}

/** The copy against a fresh list by the same socket: the reply comes after every frame already sent. */
async function compare(copy: LiveCopy, event: string, data: Record<string, unknown>, step: string): Promise<void> {
  const fresh = await copy.socket.request(event, data);
  expect(fresh.error).toBeUndefined();
  copy.catchUp();
  const held = { count: copy.count, ids: copy.rows.map((r) => r.id), rows: copy.rows };
  const want = { count: fresh.data.count, ids: fresh.data.rows.map((r: any) => r.id), rows: fresh.data.rows };
  if (JSON.stringify(held) !== JSON.stringify(want) || copy.errors.length) {
    throw new Error(
      `${step}: ${event} ${JSON.stringify(data)}\nheld ${JSON.stringify(held.ids)} count ${held.count}\nwant ${JSON.stringify(want.ids)} count ${want.count}\n${copy.errors.join('; ')}`,
    );
  }
}

type Op =
  | { kind: 'bind-create'; tenant: number; rank: number; price: number; label: string; shelf: number }
  | { kind: 'orm-create'; tenant: number; rank: number; price: number; label: string; shelf: number }
  | { kind: 'bind-update'; pick: number; rank?: number; price?: number; label?: string }
  | { kind: 'orm-update'; pick: number; rank?: number; price?: number }
  | { kind: 'orm-update-many'; tenant: number; below: number; price: number }
  | { kind: 'orm-increment'; pick: number; by: number }
  | { kind: 'bind-delete'; pick: number }
  | { kind: 'orm-delete'; pick: number }
  | { kind: 'orm-remove'; pick: number }
  | { kind: 'shelf-rename'; shelf: number; title: string }
  | { kind: 'tx'; commit: boolean; ops: Array<{ pick: number; rank: number; create: boolean; tenant: number }> };

const labels = ['a', 'b', 'B', 'ab', 'x-y', 'xa', 'Xb', 'lamp'];
const rank = fc.integer({ min: 0, max: 20 });
const price = fc.integer({ min: 0, max: 50 });
const label = fc.constantFrom(...labels);
const pick = fc.nat(1000);
const tenant = fc.integer({ min: 0, max: 1 });
const shelf = fc.integer({ min: 0, max: 2 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('bind-create' as const), tenant, rank, price, label, shelf }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('orm-create' as const), tenant, rank, price, label, shelf }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('bind-update' as const), pick, rank, price, label }, { requiredKeys: ['kind', 'pick'] }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('orm-update' as const), pick, rank, price }, { requiredKeys: ['kind', 'pick'] }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('orm-update-many' as const), tenant, below: rank, price }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('orm-increment' as const), pick, by: fc.integer({ min: -5, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bind-delete' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('orm-delete' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('orm-remove' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('shelf-rename' as const), shelf, title: label }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('tx' as const),
      commit: fc.boolean(),
      ops: fc.array(fc.record({ pick, rank, create: fc.boolean(), tenant }), { minLength: 1, maxLength: 4 }),
    }),
  },
);

describe('the guarantee, under random changes (property-based, seeded)', () => {
  it('keeps every copy equal to a fresh list after each step', async () => {
    const seed = Number(process.env.LIVE_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const steps = Number(process.env.LIVE_STEPS ?? 200);
    // Printed so that a failure can be replayed: LIVE_SEED=<seed> npx jest test/e2e/live-lists.e2e-spec.ts
    console.log(`live-lists property test: LIVE_SEED=${seed} LIVE_STEPS=${steps}`);
    const ops = fc.sample(opArb, { seed, numRuns: steps });

    const users = [acme, globex];
    const tenants = users.map((u) => u.tenant);
    const shelves = await t.dataSource.getRepository(Shelf).save([{ title: 'one' }, { title: 'two', note: 'hidden' }, { title: 'three' }]);
    const [a1, a2, g1] = [await open(acme), await open(acme), await open(globex)];
    const socketOf = (tenantIndex: number) => (tenantIndex === 0 ? a1 : g1);
    await cards().save([
      { tenant: 'acme', rank: 3, price: 30, label: 'lamp', shelfId: shelves[0].id },
      { tenant: 'acme', rank: 1, price: 10, label: 'a' },
      { tenant: 'globex', rank: 2, price: 20, label: 'b' },
    ]);

    const lists: Array<{ socket: TestSocket; event: string; data: Record<string, unknown> }> = [
      { socket: a1, event: 'live.Card.list', data: { order: { rank: 'ASC' }, limit: 3 } },
      { socket: a2, event: 'live.Card.list', data: { order: { rank: 'ASC' }, limit: 3 } },
      { socket: a1, event: 'live.Card.list', data: { order: { price: 'DESC', rank: 'ASC' }, limit: 3, page: 2, filter: { price: { gte: 20 } } } },
      { socket: a2, event: 'live.Card.list', data: { order: { rank: 'DESC' }, limit: 4, page: 1, filter: { $or: [{ rank: { lt: 5 } }, { label: 'lamp' }] } } },
      { socket: a1, event: 'live.Card.search', data: { q: 'a', order: { rank: 'DESC' }, limit: 2, page: 2, include: ['shelf'] } },
      { socket: g1, event: 'live.Card.list', data: { order: { label: 'ASC' }, limit: 4 } },
      { socket: g1, event: 'live.Card.list', data: { filter: { rank: { lt: 12 } }, order: { rank: 'ASC' }, limit: 5, page: 2 } },
      { socket: g1, event: 'live.Card.list', data: { limit: 100 } },
      // Pages far enough from the start that their reserve does not reach it.
      { socket: a2, event: 'live.Card.list', data: { order: { rank: 'ASC' }, limit: 2, page: 3 } },
      { socket: a1, event: 'live.Card.list', data: { order: { price: 'ASC' }, limit: 1, page: 4, filter: { rank: { gte: 3 } } } },
      { socket: g1, event: 'live.Card.list', data: { order: { rank: 'DESC', price: 'ASC' }, limit: 2, page: 4 } },
    ];
    const copies = await Promise.all(lists.map((l) => openLive(l.socket, l.event, l.data)));
    // Equal requests of equal scopes share one room; the other tenant's equal request is another page.
    expect(copies[0].room).toBe(copies[1].room);

    const chosen = async (n: number): Promise<Card | undefined> => {
      // Rows of the two tenants of this test (other tests leave rows of other tenants).
      const all = await cards().find({ where: { tenant: In(tenants) }, order: { id: 'ASC' } });
      return all.length ? all[n % all.length] : undefined;
    };
    const tenantIndexOf = (card: Card) => tenants.indexOf(card.tenant);

    for (const [i, op] of ops.entries()) {
      const step = `seed ${seed} step ${i} ${JSON.stringify(op)}`;
      switch (op.kind) {
        case 'bind-create': {
          const reply = await socketOf(op.tenant).request('live.Card.create', {
            tenant: tenants[op.tenant],
            rank: op.rank,
            price: op.price,
            label: op.label,
            shelfId: shelves[op.shelf].id,
          });
          expect(reply.error).toBeUndefined();
          break;
        }
        case 'orm-create':
          await cards().save({ tenant: tenants[op.tenant], rank: op.rank, price: op.price, label: op.label, shelfId: op.shelf ? shelves[op.shelf].id : null });
          break;
        case 'bind-update': {
          const card = await chosen(op.pick);
          if (!card) break;
          const fields = {
            ...(op.rank === undefined ? {} : { rank: op.rank }),
            ...(op.price === undefined ? {} : { price: op.price }),
            ...(op.label ? { label: op.label } : {}),
          };
          const reply = await socketOf(tenantIndexOf(card)).request('live.Card.update', { id: card.id, ...fields });
          expect(reply.error).toBeUndefined();
          break;
        }
        case 'orm-update': {
          const card = await chosen(op.pick);
          if (!card || (op.rank === undefined && op.price === undefined)) break;
          await cards().update(
            { id: card.id },
            { ...(op.rank === undefined ? {} : { rank: op.rank }), ...(op.price === undefined ? {} : { price: op.price }) },
          );
          break;
        }
        case 'orm-update-many':
          await cards().update({ tenant: tenants[op.tenant], rank: LessThan(op.below) }, { price: op.price });
          break;
        case 'orm-increment': {
          const card = await chosen(op.pick);
          if (card) await cards().increment({ id: card.id }, 'rank', op.by);
          break;
        }
        case 'bind-delete': {
          const card = await chosen(op.pick);
          if (!card) break;
          const reply = await socketOf(tenantIndexOf(card)).request('live.Card.delete', { id: card.id });
          expect(reply.error).toBeUndefined();
          break;
        }
        case 'orm-delete': {
          const card = await chosen(op.pick);
          if (card) await cards().delete(card.id);
          break;
        }
        case 'orm-remove': {
          const card = await chosen(op.pick);
          if (card) await cards().remove(card);
          break;
        }
        case 'shelf-rename':
          await t.dataSource.getRepository(Shelf).update({ id: shelves[op.shelf].id }, { title: op.title });
          break;
        case 'tx': {
          const work = t.dataSource.transaction(async (manager) => {
            for (const inner of op.ops) {
              const all = await manager.find(Card, { order: { id: 'ASC' } });
              const card = all.length ? all[inner.pick % all.length] : undefined;
              if (inner.create || !card) await manager.save(Card, { tenant: tenants[inner.tenant], rank: inner.rank, price: inner.rank * 2, label: 'tx' });
              else if (inner.rank % 5 === 0) await manager.remove(card);
              else await manager.save(Card, { ...card, rank: inner.rank });
            }
            if (!op.commit) throw new Error('rolled back on purpose');
          });
          if (op.commit) await work;
          else await expect(work).rejects.toThrow('rolled back on purpose');
          break;
        }
      }
      await quiet();
      for (const [k, copy] of copies.entries()) await compare(copy, lists[k].event, lists[k].data, step);
    }
    // Something happened to every page, and no frame was sent for nothing.
    for (const copy of copies) expect(copy.frames).toBeGreaterThan(0);
  }, 120_000);
});
