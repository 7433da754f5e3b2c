import { Inject, Injectable } from '@nestjs/common';
import { IsInt, IsOptional, IsString, Length } from 'class-validator';
import type { IncomingMessage } from 'node:http';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Binding, BindingAction, BindingHandler, BindingsService, type RequestContext } from '../../lib/index.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { SseReader } from '../fixtures/sse-reader.js';

// Every `can` key, over every transport, with a synchronous and an asynchronous hook:
// a refused user gets `forbidden` and changes, reads or subscribes to nothing; an allowed
// user succeeds; and the hook sees the right subject (the current row for retrieve,
// update, save of an existing row, delete and subscribe {id}; the input otherwise).
// Each user names the keys that refuse it, so one key is tested at a time.

interface KeyUser {
  id: number;
  deny: string[];
}

const KEYS = ['retrieve', 'list', 'search', 'create', 'update', 'save', 'delete', 'subscribe', 'approve'] as const;
type Key = (typeof KEYS)[number];

/** Every call of a `can` hook: which binding and key, which user, and the subject it was given. */
const calls: Array<{ binding: string; key: string; user: number; subject: unknown }> = [];

function canHooks(binding: string, async: boolean) {
  return Object.fromEntries(
    KEYS.map((key) => [
      key,
      (user: KeyUser, subject: unknown) => {
        calls.push({ binding, key, user: user.id, subject });
        const allowed = !user.deny.includes(key);
        // The asynchronous hook answers on a later turn of the event loop, as a database lookup would.
        return async ? new Promise<boolean>((resolve) => setTimeout(() => resolve(allowed), 2)) : allowed;
      },
    ]),
  );
}

abstract class MemoColumns {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() @Length(1, 100) title: string;
  @Column('int', { default: 0 }) @IsOptional() @IsInt() rank: number;
  @Column({ type: 'varchar', nullable: true }) secret?: string | null;
}

@Binding<MemoColumns>({ app: 'k', name: 'SyncMemo', exclude: ['secret'], can: canHooks('SyncMemo', false) })
@Entity('sync_memo')
class SyncMemo extends MemoColumns {}

@Binding<MemoColumns>({ app: 'k', name: 'AsyncMemo', exclude: ['secret'], can: canHooks('AsyncMemo', true) })
@Entity('async_memo')
class AsyncMemo extends MemoColumns {}

/** `approve {id}` writes the row through the repository, as application code would. */
function approver(target: typeof SyncMemo | typeof AsyncMemo) {
  @Injectable()
  @BindingHandler(target)
  class Approver {
    constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

    @BindingAction('approve')
    async approve(data: { id: number }, ctx: RequestContext) {
      await this.dataSource.getRepository(target).update({ id: data.id }, { rank: 100 });
      return { approved: data.id, by: (ctx.user as KeyUser).id };
    }
  }
  return Approver;
}

const authenticate = (req: IncomingMessage): KeyUser | null => {
  const raw = req.headers['x-user'];
  return typeof raw === 'string' ? (JSON.parse(raw) as KeyUser) : null;
};
const headers = (user: KeyUser) => ({ 'x-user': JSON.stringify(user) });

/** The user refused by `key` only, and one refused by nothing. */
const refused = (key: Key): KeyUser => ({ id: 100 + KEYS.indexOf(key), deny: [key] });
const allowed: KeyUser = { id: 1, deny: [] };
/** Watches the model rooms to see which changes pushed. */
const observer: KeyUser = { id: 9, deny: [] };

let t: TestApp;
const sockets = new Map<string, TestSocket>();
let watch: TestSocket;

beforeAll(async () => {
  t = await startApp([SyncMemo, AsyncMemo], { authenticate, anonymous: false }, { providers: [approver(SyncMemo), approver(AsyncMemo)] });
  watch = await TestSocket.open(t.ws, headers(observer));
  for (const name of ['SyncMemo', 'AsyncMemo']) expect((await watch.request(`k.${name}.subscribe`, {})).error).toBeUndefined();
});
afterAll(async () => {
  watch.close();
  for (const socket of sockets.values()) socket.close();
  await t.close();
});
beforeEach(() => {
  calls.length = 0;
});

/** One socket per user, opened on first use. */
async function socketOf(user: KeyUser): Promise<TestSocket> {
  const key = JSON.stringify(user);
  let socket = sockets.get(key);
  if (!socket) sockets.set(key, (socket = await TestSocket.open(t.ws, headers(user))));
  return socket;
}

interface Reply {
  data?: any;
  error?: { code: string; message: string };
  /** The HTTP status, over REST. */
  status?: number;
}

interface Transport {
  name: string;
  call(user: KeyUser, binding: string, action: Key, data: Record<string, unknown>): Promise<Reply>;
}

const ws: Transport = {
  name: 'WebSocket',
  async call(user, binding, action, data) {
    const frame = await (await socketOf(user)).request(`k.${binding}.${action}`, data);
    return frame.error ? { error: frame.error } : { data: frame.data };
  },
};

/** The REST routes of section 5; a `save` without id has no route of its own and goes through POST /api/events. */
const rest: Transport = {
  name: 'REST',
  async call(user, binding, action, data) {
    const base = `/api/k/${binding}`;
    const { id, ...fields } = data;
    const h = headers(user);
    const res = await (() => {
      switch (action) {
        case 'retrieve':
          return http(t.http, 'GET', `${base}/${id}`, undefined, h);
        case 'list':
          return http(t.http, 'GET', `${base}?filter=${encodeURIComponent(JSON.stringify(data.filter))}`, undefined, h);
        case 'search':
        case 'approve':
          return http(t.http, 'POST', `${base}/${action}`, data, h);
        case 'create':
          return http(t.http, 'POST', base, data, h);
        case 'update':
          return http(t.http, 'PATCH', `${base}/${id}`, fields, h);
        case 'save':
          return id === undefined
            ? http(t.http, 'POST', '/api/events', { event: `k.${binding}.save`, data }, h)
            : http(t.http, 'PUT', `${base}/${id}`, fields, h);
        case 'delete':
          return http(t.http, 'DELETE', `${base}/${id}`, undefined, h);
        default:
          throw new Error(`no REST route for ${action}`);
      }
    })();
    return res.body?.error ? { status: res.status, error: res.body.error } : { status: res.status, data: res.body };
  },
};

const bindings = [
  ['synchronous', SyncMemo, 'SyncMemo'],
  ['asynchronous (Promise)', AsyncMemo, 'AsyncMemo'],
] as const;

const repo = (target: typeof SyncMemo | typeof AsyncMemo) => t.dataSource.getRepository(target);

/** The calls of `key` for `user`, in order, as the subjects they were given. */
const subjectsOf = (binding: string, key: string, user: KeyUser) =>
  calls.filter((c) => c.binding === binding && c.key === key && c.user === user.id).map((c) => c.subject);

/** A refusal: `forbidden` with the documented message, 403 over REST. */
function expectForbidden(reply: Reply, action: string, binding: string): void {
  expect(reply.data).toBeUndefined();
  expect(reply.error).toEqual({ code: 'forbidden', message: `Not allowed to ${action} ${binding}` });
  if (reply.status !== undefined) expect(reply.status).toBe(403);
}

function expectOk(reply: Reply, status = 200): any {
  expect(reply.error).toBeUndefined();
  if (reply.status !== undefined) expect(reply.status).toBe(status);
  return reply.data;
}

/**
 * Which changes of `binding` pushed while `act` ran: a sentinel change made afterwards by
 * application code pushes too, so once it has arrived every earlier push has (a socket
 * gets pushes in commit order).
 */
async function pushesDuring(target: typeof SyncMemo | typeof AsyncMemo, binding: string, act: () => Promise<void>): Promise<any[]> {
  const start = watch.frames.length;
  await act();
  const sentinel = await repo(target).save({ title: 'sentinel' });
  await watch.waitFor((f) => f.event === `k.${binding}.created` && f.data.id === sentinel.id);
  const seen = watch.frames.slice(start).filter((f) => f.room !== undefined && f.event?.startsWith(`k.${binding}.`));
  await remove(target, binding, sentinel.id);
  return seen.filter((f) => f.data.id !== sentinel.id).map((f) => ({ event: f.event, id: f.data.id }));
}

/** Application writes of the tests wait for their own push, so it never lands in a later test's window. */
async function insert(target: typeof SyncMemo | typeof AsyncMemo, binding: string, values: Partial<MemoColumns>): Promise<MemoColumns> {
  const row = await repo(target).save(values);
  await watch.waitFor((f) => f.event === `k.${binding}.created` && f.data.id === row.id);
  return row;
}
async function remove(target: typeof SyncMemo | typeof AsyncMemo, binding: string, id: number): Promise<void> {
  const { affected } = await repo(target).delete({ id });
  if (affected) await watch.waitFor((f) => f.event === `k.${binding}.deleted` && f.data.id === id);
}

async function waitUntil(condition: () => boolean, timeout = 3000): Promise<void> {
  const end = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await settle(10);
  }
}

describe.each(bindings)('can hooks (%s)', (_kind, target, name) => {
  describe.each([
    ['WebSocket', ws],
    ['REST', rest],
  ] as const)('over %s', (_name, transport) => {
    const call = (user: KeyUser, action: Key, data: Record<string, unknown>) => transport.call(user, name, action, data);
    let row: MemoColumns;

    beforeEach(async () => {
      row = await insert(target, name, { title: `memo ${transport.name}`, rank: 1, secret: 'hidden' });
    });
    afterEach(async () => {
      await remove(target, name, row.id);
    });

    it('retrieve: refused with the current row as subject; allowed answers the row', async () => {
      expectForbidden(await call(refused('retrieve'), 'retrieve', { id: row.id }), 'retrieve', name);
      expect(subjectsOf(name, 'retrieve', refused('retrieve'))).toEqual([{ id: row.id, title: row.title, rank: 1, secret: 'hidden' }]);
      expect(expectOk(await call(allowed, 'retrieve', { id: row.id }))).toEqual({ id: row.id, title: row.title, rank: 1 });
    });

    it('list: refused with the input as subject; allowed answers the page', async () => {
      const filter = { id: row.id };
      expectForbidden(await call(refused('list'), 'list', { filter }), 'list', name);
      expect(subjectsOf(name, 'list', refused('list'))).toEqual([{ filter }]);
      expect(expectOk(await call(allowed, 'list', { filter }))).toEqual({ page: 1, limit: 25, count: 1, rows: [{ id: row.id, title: row.title, rank: 1 }] });
      expect(subjectsOf(name, 'list', allowed)).toEqual([{ filter }]);
    });

    it('search: checks can.search (not can.list) with the input as subject', async () => {
      const input = { q: 'memo', filter: { id: row.id } };
      expectForbidden(await call(refused('search'), 'search', input), 'search', name);
      expect(subjectsOf(name, 'search', refused('search'))).toEqual([input]);
      // A user refused `list` only may still search: the key of search is its own.
      const page = { page: 1, limit: 25, count: 1, rows: [{ id: row.id, title: row.title, rank: 1 }] };
      expect(expectOk(await call(refused('list'), 'search', input))).toEqual(page);
      expect(subjectsOf(name, 'list', refused('list'))).toEqual([]);
      expect(expectOk(await call(allowed, 'search', input))).toEqual(page);
    });

    it('create: refused with the input as subject stores and pushes nothing; allowed creates', async () => {
      const input = { title: `created ${transport.name}`, rank: 7 };
      const before = await repo(target).count();
      const pushed = await pushesDuring(target, name, async () => {
        expectForbidden(await call(refused('create'), 'create', input), 'create', name);
      });
      expect(pushed).toEqual([]);
      expect(await repo(target).count()).toBe(before);
      expect(subjectsOf(name, 'create', refused('create'))).toEqual([input]);
      let created: any;
      const pushedOk = await pushesDuring(target, name, async () => {
        created = expectOk(await call(allowed, 'create', input), 201);
      });
      expect(created).toEqual({ id: expect.any(Number), ...input });
      expect(pushedOk).toEqual([{ event: `k.${name}.created`, id: created.id }]);
      expect(await repo(target).findOneBy({ id: created.id })).toMatchObject(input);
      await remove(target, name, created.id);
    });

    it('update: refused with the current row as subject writes and pushes nothing; allowed updates', async () => {
      const pushed = await pushesDuring(target, name, async () => {
        expectForbidden(await call(refused('update'), 'update', { id: row.id, title: 'refused', rank: 2 }), 'update', name);
      });
      expect(pushed).toEqual([]);
      expect(await repo(target).findOneByOrFail({ id: row.id })).toMatchObject({ title: row.title, rank: 1 });
      // The row as it is before the write, every column included: not the input, not the merge.
      expect(subjectsOf(name, 'update', refused('update'))).toEqual([{ id: row.id, title: row.title, rank: 1, secret: 'hidden' }]);
      const pushedOk = await pushesDuring(target, name, async () => {
        expect(expectOk(await call(allowed, 'update', { id: row.id, rank: 2 }))).toEqual({ id: row.id, title: row.title, rank: 2 });
      });
      expect(pushedOk).toEqual([{ event: `k.${name}.updated`, id: row.id }]);
      expect((await repo(target).findOneByOrFail({ id: row.id })).rank).toBe(2);
    });

    it('save of an existing row: refused with the current row as subject writes nothing; allowed saves', async () => {
      const pushed = await pushesDuring(target, name, async () => {
        expectForbidden(await call(refused('save'), 'save', { id: row.id, title: 'refused' }), 'save', name);
      });
      expect(pushed).toEqual([]);
      expect((await repo(target).findOneByOrFail({ id: row.id })).title).toBe(row.title);
      expect(subjectsOf(name, 'save', refused('save'))).toEqual([{ id: row.id, title: row.title, rank: 1, secret: 'hidden' }]);
      // save checks its own key: a user refused `update` only may save.
      const pushedOk = await pushesDuring(target, name, async () => {
        expect(expectOk(await call(refused('update'), 'save', { id: row.id, title: 'saved' }))).toEqual({ id: row.id, title: 'saved', rank: 1 });
      });
      expect(pushedOk).toEqual([{ event: `k.${name}.updated`, id: row.id }]);
      expect(subjectsOf(name, 'update', refused('update'))).toEqual([]);
    });

    it('save of a new row: refused with the input as subject stores nothing; allowed creates', async () => {
      const input = { title: `saved ${transport.name}`, rank: 4 };
      const before = await repo(target).count();
      const pushed = await pushesDuring(target, name, async () => {
        expectForbidden(await call(refused('save'), 'save', input), 'save', name);
      });
      expect(pushed).toEqual([]);
      expect(await repo(target).count()).toBe(before);
      expect(subjectsOf(name, 'save', refused('save'))).toEqual([input]);
      // save of a new row checks `save`, not `create`.
      const created = expectOk(await call(refused('create'), 'save', input));
      expect(created).toEqual({ id: expect.any(Number), ...input });
      expect(subjectsOf(name, 'create', refused('create'))).toEqual([]);
      await watch.waitFor((f) => f.event === `k.${name}.created` && f.data.id === created.id);
      await remove(target, name, created.id);
    });

    it('delete: refused with the current row as subject deletes and pushes nothing; allowed deletes', async () => {
      const pushed = await pushesDuring(target, name, async () => {
        expectForbidden(await call(refused('delete'), 'delete', { id: row.id }), 'delete', name);
      });
      expect(pushed).toEqual([]);
      expect(await repo(target).findOneBy({ id: row.id })).not.toBeNull();
      expect(subjectsOf(name, 'delete', refused('delete'))).toEqual([{ id: row.id, title: row.title, rank: 1, secret: 'hidden' }]);
      const pushedOk = await pushesDuring(target, name, async () => {
        expect(expectOk(await call(allowed, 'delete', { id: row.id }))).toEqual({ id: row.id });
      });
      expect(pushedOk).toEqual([{ event: `k.${name}.deleted`, id: row.id }]);
      expect(await repo(target).findOneBy({ id: row.id })).toBeNull();
    });

    it('custom action: refused with the input as subject runs nothing; allowed runs the handler', async () => {
      const pushed = await pushesDuring(target, name, async () => {
        expectForbidden(await call(refused('approve'), 'approve', { id: row.id }), 'approve', name);
      });
      expect(pushed).toEqual([]);
      expect((await repo(target).findOneByOrFail({ id: row.id })).rank).toBe(1);
      expect(subjectsOf(name, 'approve', refused('approve'))).toEqual([{ id: row.id }]);
      const pushedOk = await pushesDuring(target, name, async () => {
        expect(expectOk(await call(allowed, 'approve', { id: row.id }))).toEqual({ approved: row.id, by: allowed.id });
      });
      expect(pushedOk).toEqual([{ event: `k.${name}.updated`, id: row.id }]);
      expect((await repo(target).findOneByOrFail({ id: row.id })).rank).toBe(100);
    });
  });

  /** Subscribing over a WebSocket or an SSE stream; `pushes()` are what the subscription has received. */
  interface Subscription {
    reply: Reply;
    pushes(): any[];
    close(): void;
  }
  const overWs = async (user: KeyUser, data: Record<string, unknown>): Promise<Subscription> => {
    // A fresh socket, so what it receives comes from this subscription only.
    const socket = await TestSocket.open(t.ws, headers(user));
    const frame = await socket.request(`k.${name}.subscribe`, data);
    return { reply: frame.error ? { error: frame.error } : { data: frame.data }, pushes: () => socket.pushes(), close: () => socket.close() };
  };
  const overSse = async (user: KeyUser, data: Record<string, unknown>): Promise<Subscription> => {
    const query = data.id !== undefined ? `id=${data.id}` : `filter=${encodeURIComponent(JSON.stringify(data.filter))}`;
    try {
      const stream = await SseReader.open(`${t.http}/api/k/${name}/events?${query}`, headers(user));
      return { reply: { status: stream.status, data: {} }, pushes: () => stream.events().map((e) => e.frame), close: () => stream.close() };
    } catch (failure: any) {
      return { reply: { status: failure.status, error: failure.body?.error }, pushes: () => [], close: () => undefined };
    }
  };

  describe.each([
    ['WebSocket', overWs],
    ['SSE', overSse],
  ] as const)('subscribe over %s', (_transport, subscribe) => {
    const members = (room: string) =>
      t.app
        .get(BindingsService)
        .rooms()
        .find((r) => r.room === room)?.subscribers ?? 0;

    it('subscribe {id}: refused with the current row as subject joins nothing and gets no push; allowed gets the push', async () => {
      const row = await insert(target, name, { title: 'watched', rank: 1, secret: 's' });
      const room = `k.${name}:${row.id}`;
      const no = await subscribe(refused('subscribe'), { id: row.id });
      expectForbidden(no.reply, 'subscribe', name);
      expect(subjectsOf(name, 'subscribe', refused('subscribe'))).toEqual([{ id: row.id, title: 'watched', rank: 1, secret: 's' }]);
      expect(members(room)).toBe(0);
      const yes = await subscribe(allowed, { id: row.id });
      expect(yes.reply.error).toBeUndefined();
      expect(members(room)).toBe(1);
      await repo(target).update({ id: row.id }, { rank: 2 });
      await watch.waitFor((f) => f.event === `k.${name}.updated` && f.data.id === row.id && f.data.rank === 2);
      await settle();
      expect(no.pushes()).toEqual([]);
      expect(yes.pushes().map((p) => [p.event, p.room, p.data])).toEqual([[`k.${name}.updated`, room, { id: row.id, title: 'watched', rank: 2 }]]);
      no.close();
      yes.close();
      await waitUntil(() => members(room) === 0);
      await remove(target, name, row.id);
    });

    it('subscribe {filter}: refused with the input as subject joins nothing and gets no push; allowed gets the push', async () => {
      const filter = { title: 'filtered' };
      const no = await subscribe(refused('subscribe'), { filter });
      expectForbidden(no.reply, 'subscribe', name);
      expect(subjectsOf(name, 'subscribe', refused('subscribe'))).toEqual([{ filter }]);
      const occupied = () =>
        t.app
          .get(BindingsService)
          .rooms()
          .filter((r) => r.room.startsWith(`k.${name}?`));
      expect(occupied()).toEqual([]);
      const yes = await subscribe(allowed, { filter });
      expect(yes.reply.error).toBeUndefined();
      expect(occupied()).toEqual([{ room: expect.any(String), subscribers: 1 }]);
      const row = await repo(target).save({ title: 'filtered' });
      await watch.waitFor((f) => f.event === `k.${name}.created` && f.data.id === row.id);
      await settle();
      expect(no.pushes()).toEqual([]);
      expect(yes.pushes().map((p) => [p.event, p.data])).toEqual([[`k.${name}.created`, { id: row.id, title: 'filtered', rank: 0 }]]);
      no.close();
      yes.close();
      await waitUntil(() => occupied().length === 0);
      await remove(target, name, row.id);
    });
  });
});
