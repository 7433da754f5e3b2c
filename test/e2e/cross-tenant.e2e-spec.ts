import { Injectable } from '@nestjs/common';
import { IsInt, IsOptional, IsString, Length } from 'class-validator';
import type { IncomingMessage } from 'node:http';
import { Column, Entity, ManyToOne, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { Binding, BindingAction, BindingHandler, type RequestContext } from '../../lib/index.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { SseReader } from '../fixtures/sse-reader.js';

// A sweep of every route with two tenants: WebSocket actions, REST, POST /api/events,
// SSE (with Last-Event-ID), replay (`since`), custom actions and channels. One tenant
// tries to read, write and observe the other's rows; every reply and every frame it
// receives is checked exactly, so nothing of the other tenant can slip through.
// (Includes, seq numbering across tenants and throwing hooks have suites of their own.)

interface User {
  id: number;
  tenant: string;
  role: 'admin' | 'member';
}

/** A ticket of one tenant. `can.retrieve` answers asynchronously, so pushes take the Promise path. */
@Binding<Ticket>({
  app: 'x',
  exclude: ['internal'],
  scope: (user: User) => ({ tenant: user.tenant }),
  can: { retrieve: (user: User) => new Promise<boolean>((resolve) => setImmediate(() => resolve(user !== null))) },
})
@Entity()
class Ticket {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() @Length(1, 100) title: string;
  @Column() @IsString() tenant: string;
  @Column('int', { default: 0 }) @IsOptional() @IsInt() rank: number;
  @Column({ type: 'varchar', nullable: true }) internal?: string | null;
}

/** A comment of one tenant on a ticket: its key `ticketId` names a row of another scoped binding. */
@Binding<Comment>({ app: 'x', scope: (user: User) => ({ tenant: user.tenant }) })
@Entity()
class Comment {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() body: string;
  @Column() @IsString() tenant: string;
  @Column({ type: 'int', nullable: true }) @IsOptional() @IsInt() ticketId?: number | null;
  @ManyToOne(() => Ticket, { nullable: true, onDelete: 'CASCADE' }) ticket?: Relation<Ticket> | null;
}

@Injectable()
@BindingHandler(Ticket)
class TicketHandler {
  /** Answers who the library says is calling. */
  @BindingAction('whoami')
  whoami(data: unknown, ctx: RequestContext) {
    const user = ctx.user as User;
    return { id: user.id, tenant: user.tenant, transport: ctx.transport };
  }
}

const authenticate = (req: IncomingMessage): User | null => {
  const raw = req.headers['x-user'];
  return typeof raw === 'string' ? (JSON.parse(raw) as User) : null;
};
const as = (user: User) => ({ 'x-user': JSON.stringify(user) });

const alice: User = { id: 1, tenant: 'acme', role: 'admin' };
const bob: User = { id: 2, tenant: 'globex', role: 'admin' };
const carol: User = { id: 3, tenant: 'acme', role: 'member' };

let t: TestApp;
let acme: Ticket[];
let globex: Ticket[];
/** Model-room subscribers of each tenant: they see every change of their own tenant and must see nothing else. */
let acmeWatch: TestSocket;
let globexWatch: TestSocket;
const opened: TestSocket[] = [];

async function open(user: User): Promise<TestSocket> {
  const socket = await TestSocket.open(t.ws, as(user));
  opened.push(socket);
  return socket;
}

const shown = (row: Ticket) => ({ id: row.id, title: row.title, tenant: row.tenant, rank: row.rank });
const repo = () => t.dataSource.getRepository(Ticket);

beforeAll(async () => {
  t = await startApp(
    [Ticket, Comment],
    {
      authenticate,
      anonymous: false,
      identify: (user: User) => `${user.tenant}/${user.id}`,
      channels: {
        can: {
          // A channel belongs to the tenant named before the colon; members may read, only admins post.
          join: (user: User, channel: string) => channel.startsWith(`${user.tenant}:`),
          message: async (user: User) => user.role === 'admin',
        },
      },
    },
    { providers: [TicketHandler] },
  );
  acme = [];
  globex = [];
  for (let i = 1; i <= 3; i++) acme.push(await repo().save({ title: `acme plan ${i}`, tenant: 'acme', rank: i, internal: 'acme-secret' }));
  for (let i = 1; i <= 5; i++) globex.push(await repo().save({ title: `globex plan ${i}`, tenant: 'globex', rank: i, internal: 'globex-secret' }));
  acmeWatch = await open(alice);
  globexWatch = await open(bob);
  for (const socket of [acmeWatch, globexWatch]) expect((await socket.request('x.Ticket.subscribe', {})).data).toMatchObject({ room: 'x.Ticket' });
});
afterAll(async () => {
  for (const socket of opened) socket.close();
  await t.close();
});

/**
 * Runs `act`, then a change of each tenant made by application code; once both watchers
 * have that change, every push `act` caused has arrived too. Answers what each watcher got
 * from `act`, as `[event, id, tenant]`.
 */
async function pushesDuring(act: () => Promise<void>): Promise<{ acme: unknown[]; globex: unknown[] }> {
  const marks = [acmeWatch.frames.length, globexWatch.frames.length];
  await act();
  const sentinels = [await repo().save({ title: 'sentinel', tenant: 'acme' }), await repo().save({ title: 'sentinel', tenant: 'globex' })];
  await acmeWatch.waitFor((f) => f.event === 'x.Ticket.created' && f.data.id === sentinels[0].id);
  await globexWatch.waitFor((f) => f.event === 'x.Ticket.created' && f.data.id === sentinels[1].id);
  const got = (socket: TestSocket, mark: number) =>
    socket.frames
      .slice(mark)
      .filter((f) => f.room !== undefined && f.data?.title !== 'sentinel')
      .map((f) => [f.event, f.data.id, f.data.tenant]);
  const result = { acme: got(acmeWatch, marks[0]), globex: got(globexWatch, marks[1]) };
  for (const row of sentinels) await repo().delete({ id: row.id });
  await acmeWatch.waitFor((f) => f.event === 'x.Ticket.deleted' && f.data.id === sentinels[0].id);
  await globexWatch.waitFor((f) => f.event === 'x.Ticket.deleted' && f.data.id === sentinels[1].id);
  return result;
}

interface Reply {
  data?: any;
  error?: { code: string; message: string; details?: unknown };
  status?: number;
}
type Action = 'retrieve' | 'list' | 'search' | 'create' | 'update' | 'save' | 'delete' | 'whoami';
interface Transport {
  name: string;
  call(user: User, action: Action, data: Record<string, unknown>): Promise<Reply>;
}

const sockets = new Map<number, Promise<TestSocket>>();
const ws: Transport = {
  name: 'WebSocket',
  async call(user, action, data) {
    if (!sockets.has(user.id)) sockets.set(user.id, open(user));
    const frame = await (await sockets.get(user.id)!).request(`x.Ticket.${action}`, data);
    // A reply carries exactly event, id and data or error: nothing else rides along.
    expect(Object.keys(frame).sort()).toEqual(frame.error ? ['error', 'event', 'id'] : ['data', 'event', 'id']);
    return frame.error ? { error: frame.error } : { data: frame.data };
  },
};
const asReply = (res: { status: number; body: any }): Reply =>
  res.body?.error ? { status: res.status, error: res.body.error } : { status: res.status, data: res.body };
const rest: Transport = {
  name: 'REST',
  async call(user, action, data) {
    const { id, ...fields } = data;
    const h = as(user);
    switch (action) {
      case 'retrieve':
        return asReply(await http(t.http, 'GET', `/api/x/Ticket/${id}`, undefined, h));
      case 'list': {
        const query = Object.entries(data)
          .map(([key, value]) => {
            // REST writes an order as `order=-rank,title`.
            if (key === 'order')
              return `order=${Object.entries(value as Record<string, string>)
                .map(([field, dir]) => (dir === 'DESC' ? `-${field}` : field))
                .join(',')}`;
            return `${key}=${encodeURIComponent(typeof value === 'object' ? JSON.stringify(value) : String(value))}`;
          })
          .join('&');
        return asReply(await http(t.http, 'GET', `/api/x/Ticket?${query}`, undefined, h));
      }
      case 'search':
      case 'whoami':
        return asReply(await http(t.http, 'POST', `/api/x/Ticket/${action}`, data, h));
      case 'create':
        return asReply(await http(t.http, 'POST', '/api/x/Ticket', data, h));
      case 'update':
        return asReply(await http(t.http, 'PATCH', `/api/x/Ticket/${id}`, fields, h));
      case 'save':
        // A save without id has no REST route of its own.
        return asReply(
          id === undefined
            ? await http(t.http, 'POST', '/api/events', { event: 'x.Ticket.save', data }, h)
            : await http(t.http, 'PUT', `/api/x/Ticket/${id}`, fields, h),
        );
      case 'delete':
        return asReply(await http(t.http, 'DELETE', `/api/x/Ticket/${id}`, undefined, h));
    }
  },
};
const events: Transport = {
  name: 'POST /api/events',
  async call(user, action, data) {
    return asReply(await http(t.http, 'POST', '/api/events', { event: `x.Ticket.${action}`, data }, as(user)));
  },
};

const STATUS: Record<string, number> = { not_found: 404, forbidden: 403, bad_request: 400 };
function expectError(reply: Reply, code: string, message: string): void {
  expect(reply.data).toBeUndefined();
  expect(reply.error).toEqual({ code, message });
  if (reply.status !== undefined) expect(reply.status).toBe(STATUS[code]);
}
function expectData(reply: Reply, status = 200): any {
  expect(reply.error).toBeUndefined();
  if (reply.status !== undefined) expect(reply.status).toBe(status);
  return reply.data;
}

describe.each([ws, rest, events].map((transport) => [transport.name, transport] as const))('over %s', (_name, transport) => {
  const call = transport.call;

  it('retrieve answers the own row and not_found for every row of the other tenant', async () => {
    expect(expectData(await call(alice, 'retrieve', { id: acme[0].id }))).toEqual(shown(acme[0]));
    for (const row of globex) expectError(await call(alice, 'retrieve', { id: row.id }), 'not_found', `Ticket ${row.id} not found`);
    // A row of the other tenant answers exactly as an id that does not exist.
    expectError(await call(alice, 'retrieve', { id: 999_999 }), 'not_found', 'Ticket 999999 not found');
    for (const row of acme) expectError(await call(bob, 'retrieve', { id: row.id }), 'not_found', `Ticket ${row.id} not found`);
  });

  it("list counts and answers only the caller's rows, whatever the filter, page or order", async () => {
    const page = (rows: Ticket[], count: number, extra: Record<string, number> = {}) => ({ page: 1, limit: 25, count, rows: rows.map(shown), ...extra });
    expect(expectData(await call(alice, 'list', {}))).toEqual(page(acme, 3));
    expect(expectData(await call(bob, 'list', {}))).toEqual(page(globex, 5));
    // Naming the other tenant in a filter narrows, never widens.
    expect(expectData(await call(alice, 'list', { filter: { tenant: 'globex' } }))).toEqual(page([], 0));
    expect(expectData(await call(alice, 'list', { filter: { $or: [{ tenant: 'globex' }, { id: { in: globex.map((r) => r.id) } }] } }))).toEqual(page([], 0));
    expect(expectData(await call(alice, 'list', { filter: { tenant: { ne: 'acme' } } }))).toEqual(page([], 0));
    expect(expectData(await call(alice, 'list', { filter: { title: { like: '%plan%' } }, order: { rank: 'DESC' } }))).toEqual(page([...acme].reverse(), 3));
    // Filters shaped to escape the AND with the scope: empty or nested combinations.
    for (const filter of [
      { $or: [] },
      { $and: [] },
      { $or: [{}] },
      { $or: [{}, { tenant: 'globex' }] },
      { $and: [{ $or: [{ tenant: 'globex' }, { rank: { gte: 0 } }] }] },
      { tenant: { in: ['globex', 'acme'] } },
      { tenant: { isNull: false } },
    ]) {
      const reply = await call(alice, 'list', { filter });
      if (reply.error) expect({ filter, code: reply.error.code }).toEqual({ filter, code: 'bad_request' });
      else
        expect({ filter, tenants: [...new Set(reply.data.rows.map((r: Ticket) => r.tenant))], count: reply.data.count }).toEqual({
          filter,
          tenants: ['acme'],
          count: 3,
        });
    }
    // Paging: the count stays the caller's on every page, past the last one too.
    expect(expectData(await call(alice, 'list', { page: 2, limit: 2 }))).toEqual({ page: 2, limit: 2, count: 3, rows: [shown(acme[2])] });
    expect(expectData(await call(alice, 'list', { page: 4, limit: 2 }))).toEqual({ page: 4, limit: 2, count: 3, rows: [] });
    expect(expectData(await call(bob, 'list', { page: 9, limit: 1, filter: { rank: { gte: 2 } } }))).toEqual({ page: 9, limit: 1, count: 4, rows: [] });
  });

  it("search counts and answers only the caller's rows", async () => {
    const page = (rows: Ticket[]) => ({ page: 1, limit: 25, count: rows.length, rows: rows.map(shown) });
    expect(expectData(await call(alice, 'search', { q: 'plan' }))).toEqual(page(acme));
    expect(expectData(await call(alice, 'search', { q: 'globex' }))).toEqual(page([]));
    expect(expectData(await call(bob, 'search', { q: 'PLAN', filter: { rank: { lte: 2 } } }))).toEqual(page(globex.slice(0, 2)));
    expect(expectData(await call(alice, 'search', { q: 'plan', page: 2, limit: 2 }))).toEqual({ page: 2, limit: 2, count: 3, rows: [shown(acme[2])] });
  });

  it("update, save and delete of the other tenant's rows are not_found, write nothing and push nothing", async () => {
    const target = globex[0];
    const pushed = await pushesDuring(async () => {
      expectError(await call(alice, 'update', { id: target.id, title: 'taken' }), 'not_found', `Ticket ${target.id} not found`);
      expectError(await call(alice, 'update', { id: target.id, tenant: 'acme' }), 'not_found', `Ticket ${target.id} not found`);
      expectError(await call(alice, 'save', { id: target.id, title: 'taken' }), 'not_found', `Ticket ${target.id} not found`);
      expectError(await call(alice, 'delete', { id: target.id }), 'not_found', `Ticket ${target.id} not found`);
    });
    expect(pushed).toEqual({ acme: [], globex: [] });
    expect(await repo().findOneByOrFail({ id: target.id })).toEqual({ ...target });
  });

  it('a create, update or save that would put a row in the other tenant is forbidden, names no id, stores and pushes nothing', async () => {
    const before = await repo().count();
    const own = acme[1];
    const pushed = await pushesDuring(async () => {
      expectError(
        await call(alice, 'create', { title: 'planted', tenant: 'globex' }),
        'forbidden',
        'This write would leave the Ticket outside your scope; nothing was stored',
      );
      expectError(
        await call(alice, 'save', { title: 'planted', tenant: 'globex' }),
        'forbidden',
        'This write would leave the Ticket outside your scope; nothing was stored',
      );
      expectError(
        await call(alice, 'update', { id: own.id, tenant: 'globex' }),
        'forbidden',
        'This write would leave the Ticket outside your scope; nothing was stored',
      );
      expectError(
        await call(alice, 'save', { id: own.id, tenant: 'globex', title: 'moved' }),
        'forbidden',
        'This write would leave the Ticket outside your scope; nothing was stored',
      );
    });
    expect(pushed).toEqual({ acme: [], globex: [] });
    expect(await repo().count()).toBe(before);
    expect(await repo().findOneByOrFail({ id: own.id })).toEqual({ ...own });
  });

  it('writes inside the own tenant push to that tenant only', async () => {
    let created: any;
    const pushed = await pushesDuring(async () => {
      // POST /api/events answers 200 whatever the event; the REST route of create answers 201.
      created = expectData(await call(alice, 'create', { title: 'acme extra', tenant: 'acme' }), transport === rest ? 201 : 200);
      expect(expectData(await call(alice, 'update', { id: created.id, rank: 9 }))).toEqual({ ...created, rank: 9 });
      expect(expectData(await call(alice, 'delete', { id: created.id }))).toEqual({ id: created.id });
    });
    expect(pushed).toEqual({
      acme: [
        ['x.Ticket.created', created.id, 'acme'],
        ['x.Ticket.updated', created.id, 'acme'],
        ['x.Ticket.deleted', created.id, 'acme'],
      ],
      globex: [],
    });
  });

  it('a custom action sees the caller as ctx.user', async () => {
    const transportName = transport === ws ? 'ws' : 'http';
    const [a, b] = await Promise.all([call(alice, 'whoami', {}), call(bob, 'whoami', {})]);
    expect(expectData(a)).toEqual({ id: alice.id, tenant: 'acme', transport: transportName });
    expect(expectData(b)).toEqual({ id: bob.id, tenant: 'globex', transport: transportName });
  });
});

describe("references to the other tenant's rows", () => {
  // A key naming another tenant's row would attach this tenant's data to it (and a delete
  // there would cascade here), and whether the write succeeds would tell which ids exist
  // there. Such a reference answers exactly as one to a row that does not exist.
  const missing = {
    code: 'bad_request',
    message: 'A reference points to a row that does not exist, or a row is still referenced',
    details: [{ field: 'ticketId', constraint: 'foreignKey', message: 'invalid reference' }],
  };
  const send = async (user: User, transport: 'ws' | 'events', event: string, data: Record<string, unknown>): Promise<Reply> => {
    if (transport === 'events') return asReply(await http(t.http, 'POST', '/api/events', { event, data }, as(user)));
    const frame = await (await open(user)).request(event, data);
    return frame.error ? { error: frame.error } : { data: frame.data };
  };

  it.each(['ws', 'events'] as const)(
    'create, update and save with a key of the other tenant answer as a missing row and store nothing (%s)',
    async (transport) => {
      const own = (await repo().manager.getRepository(Comment).save({ body: 'own', tenant: 'acme', ticketId: acme[0].id })) as Comment;
      const before = await t.dataSource.getRepository(Comment).count();
      for (const ticketId of [globex[0].id, 999_999]) {
        const attempts: Array<[string, Record<string, unknown>]> = [
          ['x.Comment.create', { body: 'attached', tenant: 'acme', ticketId }],
          ['x.Comment.save', { body: 'attached', tenant: 'acme', ticketId }],
          ['x.Comment.update', { id: own.id, ticketId }],
          ['x.Comment.save', { id: own.id, ticketId }],
        ];
        for (const [event, data] of attempts) {
          const reply = await send(alice, transport, event, data);
          expect({ event, ticketId, error: reply.error, status: reply.status }).toEqual({
            event,
            ticketId,
            error: missing,
            status: transport === 'events' ? 400 : undefined,
          });
        }
      }
      expect(await t.dataSource.getRepository(Comment).count()).toBe(before);
      expect(await t.dataSource.getRepository(Comment).findOneByOrFail({ id: own.id })).toEqual({ ...own });
      // The own tenant's rows may be referenced, and a key can be cleared.
      expect((await send(alice, transport, 'x.Comment.update', { id: own.id, ticketId: acme[1].id })).data).toEqual({
        id: own.id,
        body: 'own',
        tenant: 'acme',
        ticketId: acme[1].id,
      });
      expect((await send(alice, transport, 'x.Comment.update', { id: own.id, ticketId: null })).data).toEqual({
        id: own.id,
        body: 'own',
        tenant: 'acme',
        ticketId: null,
      });
      const created = (await send(alice, transport, 'x.Comment.create', { body: 'new', tenant: 'acme', ticketId: acme[2].id })).data;
      expect(created).toEqual({ id: expect.any(Number), body: 'new', tenant: 'acme', ticketId: acme[2].id });
      // A row the application itself attached elsewhere can still be edited without touching its key.
      await t.dataSource.getRepository(Comment).update({ id: own.id }, { ticketId: globex[1].id });
      expect((await send(alice, transport, 'x.Comment.update', { id: own.id, body: 'edited' })).data).toEqual({
        id: own.id,
        body: 'edited',
        tenant: 'acme',
        ticketId: globex[1].id,
      });
      await t.dataSource.getRepository(Comment).delete({ id: own.id });
      await t.dataSource.getRepository(Comment).delete({ id: created.id });
    },
  );
});

describe('subscriptions and replay (WebSocket)', () => {
  it("subscribe to the other tenant's row is not_found, exactly as a missing row", async () => {
    const a = await open(alice);
    expect(await a.request('x.Ticket.subscribe', { id: globex[0].id })).toEqual({
      event: 'x.Ticket.subscribe',
      id: 1,
      error: { code: 'not_found', message: `Ticket ${globex[0].id} not found` },
    });
    expect(await a.request('x.Ticket.subscribe', { id: 999_999 })).toEqual({
      event: 'x.Ticket.subscribe',
      id: 2,
      error: { code: 'not_found', message: 'Ticket 999999 not found' },
    });
  });

  it("a filter naming the other tenant, or matching both, carries only the subscriber's own rows", async () => {
    const a = await open(alice);
    const b = await open(bob);
    expect((await a.request('x.Ticket.subscribe', { filter: { tenant: 'globex' } })).error).toBeUndefined();
    expect((await a.request('x.Ticket.subscribe', { filter: { title: { like: '%plan%' } } })).error).toBeUndefined();
    expect((await b.request('x.Ticket.subscribe', { filter: { title: { like: '%plan%' } } })).error).toBeUndefined();
    // Application code changes rows of both tenants, through several TypeORM paths.
    const g = await repo().save({ title: 'globex plan new', tenant: 'globex' });
    await repo().update({ id: globex[1].id }, { rank: 42 });
    await repo().createQueryBuilder().update(Ticket).set({ rank: 43 }).where('id = :id', { id: globex[2].id }).execute();
    await repo().delete({ id: g.id });
    const own = await repo().save({ title: 'acme plan new', tenant: 'acme' });
    await repo().delete({ id: own.id });
    await b.waitFor((f) => f.event === 'x.Ticket.deleted' && f.data.id === g.id);
    await a.waitFor((f) => f.event === 'x.Ticket.deleted' && f.data.id === own.id);
    await settle();
    expect(a.pushes().map((p) => [p.event, p.data.id, p.data.tenant])).toEqual([
      ['x.Ticket.created', own.id, 'acme'],
      ['x.Ticket.deleted', own.id, 'acme'],
    ]);
    expect(b.pushes().map((p) => [p.event, p.data.id, p.data.tenant])).toEqual([
      ['x.Ticket.created', g.id, 'globex'],
      ['x.Ticket.updated', globex[1].id, 'globex'],
      ['x.Ticket.updated', globex[2].id, 'globex'],
      ['x.Ticket.deleted', g.id, 'globex'],
    ]);
    // No push carries an excluded column.
    expect([...a.pushes(), ...b.pushes()].filter((p) => 'internal' in p.data)).toEqual([]);
    // Other frames (replies) are all the sockets got.
    expect(a.frames.filter((f) => f.room === undefined && f.id === undefined)).toEqual([]);
    await repo().update({ id: globex[1].id }, { rank: globex[1].rank });
    await repo().update({ id: globex[2].id }, { rank: globex[2].rank });
  });

  it('a row that moves to the other tenant stops reaching its old subscribers, and its state is never shown to them', async () => {
    const row = await repo().save({ title: 'moving', tenant: 'acme' });
    const a = await open(alice);
    const b = await open(bob);
    await a.request('x.Ticket.subscribe', { id: row.id });
    await a.request('x.Ticket.subscribe', { filter: { title: 'moving' } });
    await b.request('x.Ticket.subscribe', { filter: { title: 'moving' } });
    await repo().update({ id: row.id }, { tenant: 'globex', rank: 5 });
    await repo().update({ id: row.id }, { rank: 6 });
    await b.waitFor((f) => f.data?.rank === 6);
    await settle();
    expect(a.pushes()).toEqual([]);
    expect(b.pushes().map((p) => [p.event, p.data])).toEqual([
      ['x.Ticket.updated', { id: row.id, title: 'moving', tenant: 'globex', rank: 5 }],
      ['x.Ticket.updated', { id: row.id, title: 'moving', tenant: 'globex', rank: 6 }],
    ]);
    await repo().delete({ id: row.id });
  });

  it("replay (`since`) sends only the caller's own changes", async () => {
    const filter = { title: { like: 'replayed%' } };
    // One subscriber of each tenant keeps the room (and its replay buffer) alive.
    const keepA = await open(alice);
    const keepB = await open(bob);
    await keepA.request('x.Ticket.subscribe', { filter });
    await keepB.request('x.Ticket.subscribe', { filter });
    const g = await repo().save({ title: 'replayed globex', tenant: 'globex' });
    const a1 = await repo().save({ title: 'replayed acme', tenant: 'acme' });
    await repo().update({ id: g.id }, { rank: 1 });
    await repo().delete({ id: g.id });
    await keepA.waitFor((f) => f.data?.id === a1.id);
    await keepB.waitFor((f) => f.event === 'x.Ticket.deleted' && f.data.id === g.id);
    const late = { a: await open(alice), b: await open(bob) };
    const replyA = await late.a.request('x.Ticket.subscribe', { filter, since: 0 });
    const replyB = await late.b.request('x.Ticket.subscribe', { filter, since: 0 });
    expect(replyA.data).toMatchObject({ recovered: true });
    expect(replyB.data).toMatchObject({ recovered: true });
    await settle();
    expect(late.a.pushes().map((p) => [p.event, p.data])).toEqual([['x.Ticket.created', { id: a1.id, title: 'replayed acme', tenant: 'acme', rank: 0 }]]);
    expect(late.b.pushes().map((p) => [p.event, p.data.id, p.data.tenant])).toEqual([
      ['x.Ticket.created', g.id, 'globex'],
      ['x.Ticket.updated', g.id, 'globex'],
      ['x.Ticket.deleted', g.id, 'globex'],
    ]);
    await repo().delete({ id: a1.id });
  });
});

describe('Server-Sent Events', () => {
  const url = (query: string) => `${t.http}/api/x/Ticket/events${query}`;

  it("a stream of the other tenant's row is refused as not_found before it starts", async () => {
    await expect(SseReader.open(url(`?id=${globex[0].id}`), as(alice))).rejects.toMatchObject({
      status: 404,
      body: { error: { code: 'not_found', message: `Ticket ${globex[0].id} not found` } },
    });
  });

  it("model and filter streams carry only the caller's rows, and Last-Event-ID replays only them", async () => {
    const filter = encodeURIComponent(JSON.stringify({ title: { like: 'streamed%' } }));
    const model = await SseReader.open(url(''), as(alice));
    const byFilter = await SseReader.open(url(`?filter=${filter}`), as(alice));
    const bobs = await SseReader.open(url(`?filter=${filter}`), as(bob));
    const g = await repo().save({ title: 'streamed globex', tenant: 'globex' });
    const a1 = await repo().save({ title: 'streamed acme', tenant: 'acme' });
    await repo().update({ id: g.id }, { rank: 3 });
    await bobs.waitFor(() => bobs.events().find((e) => e.frame.data.rank === 3));
    await byFilter.waitFor(() => byFilter.events().find((e) => e.frame.data.id === a1.id));
    await model.waitFor(() => model.events().find((e) => e.frame.data.id === a1.id));
    await settle();
    const seen = (reader: SseReader) => reader.events().map((e) => [e.event, e.frame.data.id, e.frame.data.tenant]);
    expect(seen(model)).toEqual([['x.Ticket.created', a1.id, 'acme']]);
    expect(seen(byFilter)).toEqual([['x.Ticket.created', a1.id, 'acme']]);
    expect(seen(bobs)).toEqual([
      ['x.Ticket.created', g.id, 'globex'],
      ['x.Ticket.updated', g.id, 'globex'],
    ]);
    // Resuming from the start replays the room's kept pushes: only the caller's own.
    const resumed = await SseReader.open(url(`?filter=${filter}`), { ...as(alice), 'last-event-id': '0' });
    await resumed.waitFor(() => resumed.events().length >= 1);
    await settle();
    expect(resumed.events().map((e) => [e.event, e.frame.data])).toEqual([
      ['x.Ticket.created', { id: a1.id, title: 'streamed acme', tenant: 'acme', rank: 0 }],
    ]);
    for (const reader of [model, byFilter, bobs, resumed]) reader.close();
    await repo().delete({ id: g.id });
    await repo().delete({ id: a1.id });
  });
});

describe('channels across tenants', () => {
  it('a user refused by channels.can cannot join, post, read history, see presence or info, set state, edit or delete', async () => {
    const a = await open(alice);
    const c = await open(carol);
    const b = await open(bob);
    expect((await a.request('channel.join', { channel: 'acme:general' })).data).toEqual({ channel: 'acme:general' });
    expect((await c.request('channel.join', { channel: 'acme:general' })).data).toEqual({ channel: 'acme:general' });
    const posted = (await a.request('channel.message', { channel: 'acme:general', message: 'acme only' })).data;
    await a.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'acme/3');
    await c.waitFor((f) => f.event === 'channel.message' && f.data.id === posted.id);
    const before = { a: a.frames.length, c: c.frames.length };

    const refused = { code: 'forbidden', message: 'Not allowed in channel acme:general' };
    const attempts: Array<[string, Record<string, unknown>]> = [
      ['channel.join', { channel: 'acme:general' }],
      ['channel.message', { channel: 'acme:general', message: 'hello from globex' }],
      ['channel.history', { channel: 'acme:general' }],
      ['channel.info', { channel: 'acme:general' }],
      ['channel.edit', { channel: 'acme:general', id: posted.id, message: 'defaced' }],
      // An existing message and a made-up id answer alike: no way to probe for ids.
      ['channel.delete', { channel: 'acme:general', id: posted.id }],
      ['channel.delete', { channel: 'acme:general', id: '00000000-0000-4000-8000-000000000000' }],
    ];
    for (const [event, data] of attempts) {
      const reply = await b.request(event, data);
      expect({ event, reply: reply.error }).toEqual({ event, reply: refused });
      const res = await http(t.http, 'POST', '/api/events', { event, data }, as(bob));
      if (event !== 'channel.join') expect({ event, status: res.status, body: res.body }).toEqual({ event, status: 403, body: { error: refused } });
    }
    expect((await b.request('channel.state', { channel: 'acme:general', state: { typing: true } })).error).toEqual({
      code: 'forbidden',
      message: 'Join channel acme:general before setting a state in it',
    });
    // Leaving a channel never joined changes nothing.
    expect((await b.request('channel.leave', { channel: 'acme:general' })).data).toEqual({ channel: 'acme:general' });

    // A member of the tenant may read but not post (can.message refuses), nor change another's message.
    expect((await c.request('channel.message', { channel: 'acme:general', message: 'member post' })).error).toEqual({
      code: 'forbidden',
      message: 'Not allowed to post in channel acme:general',
    });
    expect((await c.request('channel.delete', { channel: 'acme:general', id: posted.id })).error).toEqual({
      code: 'forbidden',
      message: 'Only the author of a message may change it',
    });

    await settle();
    // The members got nothing from any of it: no message, no presence of bob, no edit or delete.
    expect(a.frames.slice(before.a).filter((f) => f.id === undefined)).toEqual([]);
    expect(c.frames.slice(before.c).filter((f) => f.id === undefined)).toEqual([]);
    expect((await a.request('channel.history', { channel: 'acme:general' })).data).toEqual({ channel: 'acme:general', messages: [posted] });
    expect((await a.request('channel.info', { channel: 'acme:general' })).data).toEqual({
      channel: 'acme:general',
      users: [
        { user: 'acme/1', state: null },
        { user: 'acme/3', state: null },
      ],
      config: { history: 100, presence: true },
    });
    // And bob's own tenant channel works for him, without a trace of acme.
    expect((await b.request('channel.join', { channel: 'globex:general' })).data).toEqual({ channel: 'globex:general' });
    expect((await b.request('channel.history', { channel: 'globex:general' })).data).toEqual({ channel: 'globex:general', messages: [] });
    expect((await b.request('channel.info', { channel: 'globex:general' })).data).toEqual({
      channel: 'globex:general',
      users: [{ user: 'globex/2', state: null }],
      config: { history: 100, presence: true },
    });
  });
});
