// Issue 14 item 7: races and smaller leaks. A socket that closes while its subscribe is in
// flight is never left in a room (WebSocket and SSE, with and without an async hook); an
// automatic subscription passes can.subscribe as an explicit one does; a write refused for
// leaving the writer's scope names no id and stores nothing (PROTOCOL.md sections 3 and 6).
import { IsBoolean, IsOptional, IsString, Length } from 'class-validator';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Binding, BindingsService } from '../../lib/index.js';
import { WsTransport } from '../../lib/transports/ws/ws-transport.js';
import { SseTransport } from '../../lib/transports/http/sse.transport.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { alice, as, authenticateFromHeader, bob, type TestUser } from '../fixtures/tenancy-fixtures.js';

/** While set, can.subscribe of Ticket waits for it (it always answers with a promise). */
let gate: Promise<void> | undefined;
const subscribeCalls: unknown[] = [];
/** A gate, and the function that opens it. */
function closedGate(): () => void {
  let open!: () => void;
  gate = new Promise<void>((resolve) => (open = resolve));
  return () => {
    gate = undefined;
    open();
  };
}

/** Scoped to the tenant; can.subscribe (asynchronous) refuses locked tickets. */
@Binding<Ticket>({
  app: 'r',
  scope: (user: TestUser | null) => ({ tenant: user?.tenant ?? '\u0000none' }),
  autoSubscribe: ['retrieve', 'create', 'update', 'save'],
  can: {
    subscribe: async (user: TestUser, subject: any) => {
      subscribeCalls.push(subject);
      if (gate) await gate;
      return subject?.locked !== true;
    },
  },
})
@Entity()
class Ticket {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() @Length(1, 100) title: string;
  @Column() @IsString() tenant: string;
  @Column({ default: false }) @IsOptional() @IsBoolean() locked: boolean;
}

/** No hook at all: the race must not need one. */
@Binding<Memo>({ app: 'r' })
@Entity()
class Memo {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() text: string;
}

let t: TestApp;
let service: BindingsService;
let acmeTicket: Ticket;
let lockedTicket: Ticket;
let memo: Memo;

beforeAll(async () => {
  t = await startApp([Ticket, Memo], { authenticate: authenticateFromHeader, limits: { connectionsPerUser: 1000 } });
  service = t.app.get(BindingsService);
  const tickets = t.dataSource.getRepository(Ticket);
  acmeTicket = await tickets.save({ title: 'open', tenant: 'acme', locked: false });
  lockedTicket = await tickets.save({ title: 'locked', tenant: 'acme', locked: true });
  await tickets.save({ title: 'theirs', tenant: 'globex', locked: false });
  memo = await t.dataSource.getRepository(Memo).save({ text: 'hello' });
});
afterAll(() => t.close());

const sockets: TestSocket[] = [];
afterEach(async () => {
  gate = undefined;
  subscribeCalls.length = 0;
  for (const socket of sockets.splice(0)) socket.close();
  await until(() => t.app.get(WsTransport).connections.size === 0 && t.app.get(SseTransport).streams.size === 0);
});
async function open(user: TestUser = alice): Promise<TestSocket> {
  const socket = await TestSocket.open(t.ws, as(user));
  sockets.push(socket);
  return socket;
}
async function until(test: () => boolean, timeout = 10_000): Promise<void> {
  const end = Date.now() + timeout;
  while (!test()) {
    if (Date.now() > end) throw new Error('condition not met');
    await settle(20);
  }
}
/** Members of the instance room of a Ticket, 0 when it has none. */
const members = (id: number) => service.rooms().find((r) => r.room === `r.Ticket:${id}`)?.subscribers ?? 0;
const freshTicket = (title: string) => t.dataSource.getRepository(Ticket).save({ title, tenant: 'acme', locked: false });
const expectCode = (frame: any, code: string) => {
  expect(frame.error).toBeDefined();
  expect(frame.error.code).toBe(code);
};

describe('a socket that closes while its subscribe is in flight', () => {
  /** Opens `count` sockets; each sends one frame and closes at once. Then no room may keep a member. */
  async function sendAndClose(count: number, frame: (i: number) => { event: string; data: unknown }, beforeAnswer?: () => Promise<void>): Promise<void> {
    const batch = await Promise.all(Array.from({ length: count }, () => TestSocket.open(t.ws, as(alice))));
    for (const [i, socket] of batch.entries()) {
      const { event, data } = frame(i);
      socket.sendRaw(JSON.stringify({ event, id: 1, data }));
      socket.close();
    }
    await until(() => t.app.get(WsTransport).connections.size === 0);
    await beforeAnswer?.();
    await settle(300); // every subscribe still in flight finishes
    expect(service.rooms()).toEqual([]);
  }

  it('is in no room afterwards, without any hook (subscribe {id}, {filter} and the auto-subscription of retrieve)', async () => {
    const frames = [
      { event: 'r.Memo.subscribe', data: { id: memo.id } },
      { event: 'r.Memo.subscribe', data: { filter: { text: 'hello' } } },
      { event: 'r.Memo.subscribe', data: {} },
      { event: 'r.Memo.retrieve', data: { id: memo.id } },
    ];
    await sendAndClose(200, (i) => frames[i % frames.length]);
  });

  it('is in no room afterwards when can.subscribe answers after the socket closed (subscribe {id} and {filter})', async () => {
    const open = closedGate();
    const frames = [
      { event: 'r.Ticket.subscribe', data: { id: acmeTicket.id } },
      { event: 'r.Ticket.subscribe', data: { filter: { title: 'open' } } },
    ];
    await sendAndClose(
      60,
      (i) => frames[i % frames.length],
      async () => {
        // Every request reached can.subscribe before its socket closed, and waits there.
        await until(() => subscribeCalls.length === 60);
        open();
      },
    );
  });

  it('an SSE stream that goes away while it subscribes is in no room', async () => {
    const open = closedGate();
    const aborted = Array.from({ length: 10 }, async () => {
      const controller = new AbortController();
      const request = fetch(`${t.http}/api/r/Ticket/events?id=${acmeTicket.id}`, {
        headers: { accept: 'text/event-stream', ...as(alice) },
        signal: controller.signal,
      });
      await until(() => subscribeCalls.length === 10);
      controller.abort();
      await request.catch(() => undefined);
    });
    await Promise.all(aborted);
    await settle(200); // the server has seen every response close
    open();
    await settle(300);
    expect(subscribeCalls.length).toBe(10);
    expect(service.rooms()).toEqual([]);
  });

  it('a socket that stays open keeps its subscription (the check is on closing, not on timing)', async () => {
    const ticket = await freshTicket('kept');
    const open1 = closedGate();
    const socket = await open();
    setTimeout(open1, 100);
    expect((await socket.request('r.Ticket.subscribe', { id: ticket.id })).data.room).toBe(`r.Ticket:${ticket.id}`);
    expect(members(ticket.id)).toBe(1);
  });
});

describe('automatic subscriptions pass can.subscribe', () => {
  it('a retrieve that can.subscribe refuses still answers, and subscribes nothing', async () => {
    const socket = await open();
    const reply = await socket.request('r.Ticket.retrieve', { id: lockedTicket.id });
    expect(reply.data).toMatchObject({ id: lockedTicket.id, title: 'locked' });
    expect(subscribeCalls).toEqual([expect.objectContaining({ id: lockedTicket.id, locked: true })]);
    expect(members(lockedTicket.id)).toBe(0);
    // Nothing is pushed to it when the ticket changes.
    await t.dataSource.getRepository(Ticket).update(lockedTicket.id, { title: 'locked' });
    const other = await open();
    await other.request('r.Ticket.update', { id: lockedTicket.id, title: 'still locked' });
    await settle(200);
    expect(socket.pushes()).toEqual([]);
  });

  it('a retrieve that can.subscribe allows subscribes, as before', async () => {
    const ticket = await freshTicket('allowed');
    const socket = await open();
    await socket.request('r.Ticket.retrieve', { id: ticket.id });
    expect(members(ticket.id)).toBe(1);
  });

  it('create, update and save with autoSubscribe are checked too', async () => {
    const socket = await open();
    const created = await socket.request('r.Ticket.create', { title: 'new locked', tenant: 'acme', locked: true });
    expect(created.data).toMatchObject({ title: 'new locked', locked: true });
    const saved = await socket.request('r.Ticket.save', { title: 'saved locked', tenant: 'acme', locked: true });
    expect(saved.data).toMatchObject({ title: 'saved locked' });
    const updated = await socket.request('r.Ticket.update', { id: lockedTicket.id, title: 'locked again' });
    expect(updated.data).toMatchObject({ title: 'locked again' });
    expect(subscribeCalls).toHaveLength(3);
    for (const id of [created.data.id, saved.data.id, lockedTicket.id]) expect(members(id)).toBe(0);
    const open1 = await socket.request('r.Ticket.create', { title: 'new open', tenant: 'acme' });
    expect(members(open1.data.id)).toBe(1);
  });
});

describe("a write refused for leaving the writer's scope", () => {
  async function count(): Promise<number> {
    return t.dataSource.getRepository(Ticket).count();
  }

  it('names no id over the WebSocket, and stores nothing (create, save, update)', async () => {
    const socket = await open(bob);
    const before = await count();
    const next = ((await t.dataSource.getRepository(Ticket).find({ order: { id: 'DESC' }, take: 1 }))[0]?.id ?? 0) + 1;
    for (const [event, data] of [
      ['r.Ticket.create', { title: 'planted', tenant: 'acme' }],
      ['r.Ticket.save', { title: 'planted', tenant: 'acme' }],
    ] as const) {
      const reply = await socket.request(event, data);
      expectCode(reply, 'forbidden');
      expect(reply.error.message).not.toMatch(/\d/);
      expect(JSON.stringify(reply.error)).not.toContain(String(next));
    }
    const theirs = (await t.dataSource.getRepository(Ticket).findOneByOrFail({ tenant: 'globex' })).id;
    const moved = await socket.request('r.Ticket.update', { id: theirs, tenant: 'acme' });
    expectCode(moved, 'forbidden');
    expect(moved.error.message).not.toMatch(/\d/);
    expect(await count()).toBe(before);
    expect((await t.dataSource.getRepository(Ticket).findOneByOrFail({ id: theirs })).tenant).toBe('globex');
  });

  it('names no id over REST, and stores nothing (create, update, save)', async () => {
    const before = await count();
    const theirs = (await t.dataSource.getRepository(Ticket).findOneByOrFail({ tenant: 'globex' })).id;
    for (const [method, path, body] of [
      ['POST', '/api/r/Ticket', { title: 'planted', tenant: 'acme' }],
      ['PATCH', `/api/r/Ticket/${theirs}`, { tenant: 'acme' }],
      ['PUT', `/api/r/Ticket/${theirs}`, { tenant: 'acme' }],
    ] as const) {
      const res = await http(t.http, method, path, body, as(bob));
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
      expect(res.body.error.message).not.toMatch(/\d/);
    }
    expect(await count()).toBe(before);
    expect((await t.dataSource.getRepository(Ticket).findOneByOrFail({ id: theirs })).tenant).toBe('globex');
  });
});
