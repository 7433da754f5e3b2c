import { backoffDelay, BindingClientError, connect, type BindingClient, type ConnectOptions, type ConnectionState, type Push } from '../../lib/client/index.js';
import { reason, resolved, socketClass, tick, until, type FakeSocket } from './fake-websocket.js';

/**
 * The client's own logic against a fake WebSocket: requests and replies, timeouts, the
 * queue, backoff, renewal with `since`, resync, dedupe by `change`, routing of pushes to
 * subscriptions, async iteration, heartbeats.
 */

const clients: BindingClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function setup(options: ConnectOptions = {}, url = 'ws://test/ws') {
  const sockets = socketClass();
  const client = connect(url, { WebSocket: sockets.Socket, heartbeat: 0, reconnect: { minDelay: 5, maxDelay: 20 }, ...options });
  clients.push(client);
  const states: ConnectionState[] = [];
  client.on('state', (s) => states.push(s));
  return { client, sockets, states, socket: () => sockets.last() };
}

const push = (room: string, seq: number, change: string, data: Record<string, unknown>, event = 'shop.Product.updated'): Push => ({
  event,
  room,
  seq,
  change,
  data,
});

/** Opens the client's socket and answers its subscribe with `room`. */
async function subscribed(client: BindingClient, socket: () => FakeSocket, target: object, room: string, stream = 'shop.Product') {
  const pending = client.model(stream).subscribe(target as any);
  await until(() => socket().sent.some((f) => f.event === `${stream}.subscribe`));
  socket().reply({ room }, `${stream}.subscribe`);
  const subscription = await pending;
  await tick(); // pushes that come with the reply are handed over on the next macrotask
  return subscription;
}

describe('backoffDelay', () => {
  it('starts at minDelay, doubles its cap per attempt, stays within maxDelay, with jitter in the upper half', () => {
    expect(backoffDelay(0, 100, 5000, () => 0)).toBe(100);
    expect(backoffDelay(0, 100, 5000, () => 1)).toBe(100);
    expect(backoffDelay(1, 100, 5000, () => 0)).toBe(100);
    expect(backoffDelay(1, 100, 5000, () => 1)).toBe(200);
    expect(backoffDelay(3, 100, 5000, () => 0)).toBe(400);
    expect(backoffDelay(3, 100, 5000, () => 1)).toBe(800);
    expect(backoffDelay(3, 100, 5000, () => 0.5)).toBe(600);
    expect(backoffDelay(20, 100, 5000, () => 1)).toBe(5000);
    expect(backoffDelay(20, 100, 5000, () => 0)).toBe(2500);
    expect(backoffDelay(5000, 100, 5000, () => 1)).toBe(5000); // no overflow
    const draws = new Set(Array.from({ length: 50 }, () => backoffDelay(4, 100, 5000)));
    expect(draws.size).toBeGreaterThan(1); // jitter
    for (const d of draws) expect(d >= 800 && d <= 1600).toBe(true);
  });
});

describe('requests', () => {
  it('sends {event,id,data} and resolves with the reply data; error replies reject with code, message, details', async () => {
    const { client, socket } = setup();
    socket().open();
    const ok = client.request('shop.Product.retrieve', { id: 1 });
    const sent = socket().last();
    expect(sent).toEqual({ event: 'shop.Product.retrieve', id: expect.any(Number), data: { id: 1 } });
    socket().receive({ event: sent.event, id: sent.id, data: { id: 1, name: 'Lamp' } });
    await expect(ok).resolves.toEqual({ id: 1, name: 'Lamp' });

    const bad = client.model('shop.Product').create({ name: '' });
    expect(socket().last()).toMatchObject({ event: 'shop.Product.create', data: { name: '' } });
    const details = [{ field: 'name', constraint: 'isLength', message: 'too short' }];
    socket().fail({ code: 'bad_request', message: 'Invalid input', details });
    const error = await bad.then(resolved, reason);
    expect(error).toBeInstanceOf(BindingClientError);
    expect(error).toBeInstanceOf(Error);
    expect([error.code, error.message, error.details]).toEqual(['bad_request', 'Invalid input', details]);
  });

  it('maps every model action to its event and data', async () => {
    const { client, socket } = setup();
    socket().open();
    const products = client.model<{ id: number; name: string; price: number }>('shop.Product');
    const calls: Array<[Promise<unknown>, string, unknown]> = [
      [products.retrieve(7), 'retrieve', { id: 7 }],
      [products.retrieve(7, { include: ['category'] }), 'retrieve', { id: 7, include: ['category'] }],
      [
        products.list({ filter: { price: { gte: 10 } }, order: { price: 'DESC' }, limit: 5 }),
        'list',
        { filter: { price: { gte: 10 } }, order: { price: 'DESC' }, limit: 5 },
      ],
      [products.list(), 'list', {}],
      [products.search({ q: 'lamp' }), 'search', { q: 'lamp' }],
      [products.create({ name: 'Lamp', price: 3 }), 'create', { name: 'Lamp', price: 3 }],
      [products.update(7, { price: 4 }), 'update', { price: 4, id: 7 }],
      [products.save({ id: 7, price: 5 }), 'save', { id: 7, price: 5 }],
      [products.delete(7), 'delete', { id: 7 }],
      [products.request('publish', { id: 7 }), 'publish', { id: 7 }],
    ];
    expect(socket().sent.map((f) => [f.event, f.data])).toEqual(calls.map(([, action, data]) => [`shop.Product.${action}`, data]));
    for (const frame of [...socket().sent]) socket().receive({ event: frame.event, id: frame.id, data: { ok: frame.id } });
    await Promise.all(calls.map(([p]) => p));
  });

  it('times out with code timeout; a late reply is ignored; ids stay unique', async () => {
    const { client, socket } = setup({ timeout: 20 });
    socket().open();
    const slow = client.request('slow', {});
    const sent = socket().last();
    const error = await slow.then(resolved, reason);
    expect([error.code, error.constructor.name]).toEqual(['timeout', 'BindingClientError']);
    const messages: unknown[] = [];
    client.on('message', (m) => messages.push(m));
    socket().receive({ event: 'slow', id: sent.id, data: 'late' });
    expect(messages).toEqual([]);
    const perRequest = client.request('other', {}, { timeout: 0 }); // 0: no timeout
    await tick(40);
    socket().reply('fine');
    await expect(perRequest).resolves.toBe('fine');
    expect(new Set(socket().sent.map((f) => f.id)).size).toBe(socket().sent.length);
  });

  it('uses the configured frame keys for requests, replies and pushes', async () => {
    const { client, socket } = setup({ keys: { eventKey: 'type', idKey: 'ref', dataKey: 'payload' } });
    socket().open();
    const reply = client.request('ping', 'x');
    const sent = socket().sent[0];
    expect(sent).toEqual({ type: 'ping', ref: expect.any(Number), payload: 'x' });
    socket().receive({ type: 'pong', ref: sent.ref, payload: 'x' });
    await expect(reply).resolves.toBe('x');

    const subscribing = client.subscribe('shop.Product', { id: 1 });
    const request = socket().sent.at(-1);
    expect(request).toMatchObject({ type: 'shop.Product.subscribe', payload: { id: 1 } });
    socket().receive({ type: 'shop.Product.subscribe', ref: request.ref, payload: { room: 'shop.Product:1' } });
    const sub = await subscribing;
    await tick();
    const seen: Push[] = [];
    sub.on('updated', (p) => seen.push(p));
    socket().receive({ type: 'shop.Product.updated', room: 'shop.Product:1', seq: 1, change: 'c1', payload: { id: 1 } });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ event: 'shop.Product.updated', data: { id: 1 }, type: 'shop.Product.updated', payload: { id: 1 } });
  });

  it('sends ?token= on the URL; a token function is asked again on every connection attempt', async () => {
    const plain = setup({ token: 'a b&c' }, 'ws://h/ws');
    expect(plain.socket().url).toBe('ws://h/ws?token=a%20b%26c');
    const withQuery = setup({ token: 't' }, 'ws://h/ws?x=1');
    expect(withQuery.socket().url).toBe('ws://h/ws?x=1&token=t');
    let n = 0;
    const dynamic = setup({ token: async () => `t${++n}` }, 'ws://h/ws');
    await until(() => dynamic.sockets.instances.length === 1);
    expect(dynamic.socket().url).toBe('ws://h/ws?token=t1');
    dynamic.socket().open();
    dynamic.socket().drop();
    await until(() => dynamic.sockets.instances.length === 2);
    expect(dynamic.socket().url).toBe('ws://h/ws?token=t2');
  });

  it('needs a WebSocket class when the platform has none', () => {
    const had = (globalThis as any).WebSocket;
    (globalThis as any).WebSocket = undefined;
    try {
      expect(() => connect('ws://h/ws')).toThrow(/pass \{ WebSocket \}/);
    } finally {
      (globalThis as any).WebSocket = had;
    }
  });
});

describe('the queue', () => {
  it('holds requests made before the connection opens and sends them, in order, on open', async () => {
    const { client, socket } = setup();
    const a = client.request('a', 1);
    const b = client.request('b', 2);
    expect(socket().sent).toEqual([]);
    socket().open();
    expect(socket().sent.map((f) => f.event)).toEqual(['a', 'b']);
    socket().reply('A', 'a');
    socket().reply('B', 'b');
    await expect(Promise.all([a, b])).resolves.toEqual(['A', 'B']);
  });

  it('holds requests made while reconnecting; beyond queue.max they reject with disconnected', async () => {
    const { client, socket, sockets } = setup({ queue: { max: 2 }, reconnect: { minDelay: 30, maxDelay: 30 } });
    socket().open();
    socket().drop();
    expect(client.state).toBe('reconnecting');
    const held = [client.request('a'), client.request('b')];
    const over = await client.request('c').then(resolved, reason);
    expect(over.code).toBe('disconnected');
    await until(() => sockets.instances.length === 2);
    socket().open();
    expect(socket().sent.map((f) => f.event)).toEqual(['a', 'b']);
    socket().reply(1, 'a');
    socket().reply(2, 'b');
    await expect(Promise.all(held)).resolves.toEqual([1, 2]);
  });

  it('queue: false rejects at once while disconnected', async () => {
    const { client, socket } = setup({ queue: false });
    expect((await client.request('early').then(resolved, reason)).code).toBe('disconnected');
    socket().open();
    const ok = client.request('now');
    socket().reply('yes');
    await expect(ok).resolves.toBe('yes');
  });

  it('a queued request that times out leaves the queue and is never sent', async () => {
    const { client, socket } = setup();
    const error = await client.request('stale', null, { timeout: 10 }).then(resolved, reason);
    expect(error.code).toBe('timeout');
    socket().open();
    expect(socket().sent).toEqual([]);
  });

  it('a request in flight when the connection drops rejects with disconnected and is not sent again', async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const lost = client.request('shop.Product.create', { name: 'x' });
    socket().drop();
    expect((await lost.then(resolved, reason)).code).toBe('disconnected');
    await until(() => sockets.instances.length === 2);
    socket().open();
    expect(socket().sent).toEqual([]);
  });
});

describe('connection state and reconnection', () => {
  it('goes connecting → open → reconnecting → open, and closed on close(); reconnect: false closes for good', async () => {
    const { client, socket, sockets, states } = setup();
    expect(client.state).toBe('connecting');
    socket().open();
    socket().drop();
    await until(() => sockets.instances.length === 2);
    socket().open();
    await client.ready();
    await client.close();
    expect(states).toEqual(['open', 'reconnecting', 'open', 'closed']);
    expect((await client.request('x').then(resolved, reason)).code).toBe('disconnected');
    await expect(client.ready()).rejects.toMatchObject({ code: 'disconnected' });

    const once = setup({ reconnect: false });
    once.socket().open();
    const queued = once.client.request('x');
    once.socket().drop();
    expect(once.client.state).toBe('closed');
    expect((await queued.then(resolved, reason)).code).toBe('disconnected');
    await tick(20);
    expect(once.sockets.instances).toHaveLength(1);
  });

  it('backs off between failed attempts and starts again from minDelay after a successful open', async () => {
    const { socket, sockets } = setup({ reconnect: { minDelay: 10, maxDelay: 400 } });
    const at: number[] = [Date.now()];
    socket().drop(); // attempt 0 failed
    for (let i = 1; i <= 4; i++) {
      await until(() => sockets.instances.length === i + 1);
      at.push(Date.now());
      if (i < 4) socket().drop();
    }
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    // Lower bounds of the draws: 10, 10, 20, 40 (cap/2, never below minDelay).
    [10, 10, 20, 40].forEach((low, i) => expect(gaps[i]).toBeGreaterThanOrEqual(low - 2));
    expect(gaps[3]).toBeGreaterThan(gaps[0]);
    socket().open(); // success resets the backoff
    socket().drop();
    const dropped = Date.now();
    await until(() => sockets.instances.length === 6);
    expect(Date.now() - dropped).toBeLessThan(150); // minDelay again, not 80–160+
  });

  it('a heartbeat pings a silent connection and gives it up when nothing comes back', async () => {
    const { client, socket, sockets, states } = setup({ heartbeat: 20 });
    socket().open();
    await until(() => socket().sent.some((f) => f.event === 'ping'));
    const ping = socket().sent.find((f) => f.event === 'ping');
    socket().receive({ event: 'pong', id: ping.id }); // answered: stays open
    expect(client.state).toBe('open');
    await until(() => sockets.instances.length === 2, 1000); // then silence: abandoned, reconnecting
    expect(sockets.instances[0].closedWith).toBe(4000);
    expect(states).toContain('reconnecting');
  });

  it('emits error and retries when the token function fails', async () => {
    let calls = 0;
    const { client, sockets } = setup({
      token: () => {
        if (++calls === 1) throw new Error('no token yet');
        return 'ok';
      },
    });
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    await until(() => sockets.instances.length === 1);
    expect(sockets.instances[0].url).toContain('token=ok');
    expect(calls).toBe(2);
    expect(errors).toEqual([new Error('no token yet')]);
    expect(client.state).toBe('reconnecting');
  });
});

describe('subscriptions', () => {
  it('hands each push to on(full event), on(last part) and on(*), and to the async iterator', async () => {
    const { client, socket } = setup();
    socket().open();
    const sub = await subscribed(client, socket, { id: 1 }, 'shop.Product:1');
    expect(socket().last('shop.Product.subscribe').data).toEqual({ id: 1 });
    expect(sub.room).toBe('shop.Product:1');
    const got: string[] = [];
    sub.on('shop.Product.updated', (p) => got.push(`full:${p.seq}`));
    sub.on('updated', (p) => got.push(`last:${p.seq}`));
    sub.on('deleted', (p) => got.push(`deleted:${p.seq}`));
    sub.on('*', (p) => got.push(`*:${p.event}`));
    const iterator = sub[Symbol.asyncIterator]();
    socket().receive(push('shop.Product:1', 1, 'c1', { id: 1 }));
    socket().receive(push('shop.Product:1', 2, 'c2', { id: 1 }, 'shop.Product.deleted'));
    expect(got).toEqual(['full:1', 'last:1', '*:shop.Product.updated', 'deleted:2', '*:shop.Product.deleted']);
    expect((await iterator.next()).value.seq).toBe(1);
    expect((await iterator.next()).value.seq).toBe(2);
    const waiting = iterator.next();
    socket().receive(push('shop.Product:1', 3, 'c3', { id: 1 }));
    expect((await waiting).value).toMatchObject({ seq: 3, change: 'c3', data: { id: 1 } });
  });

  it('routes pushes the way the server sends them: once per socket, through its most specific room', async () => {
    const { client, socket } = setup();
    socket().open();
    const instance = await subscribed(client, socket, { id: 1 }, 'shop.Product:1');
    const filter = await subscribed(client, socket, { filter: { status: 'open' } }, 'shop.Product?abc');
    const model = await subscribed(client, socket, {}, 'shop.Product');
    const other = await subscribed(client, socket, {}, 'shop.Category', 'shop.Category');
    const got: Record<string, number[]> = { instance: [], filter: [], model: [], other: [] };
    instance.on('*', (p) => got.instance.push(p.seq));
    filter.on('*', (p) => got.filter.push(p.seq));
    model.on('*', (p) => got.model.push(p.seq));
    other.on('*', (p) => got.other.push(p.seq));
    socket().receive(push('shop.Product:1', 11, 'a', { id: 1 })); // object 1 (may also match the filter)
    socket().receive(push('shop.Product?abc', 12, 'b', { id: 2 })); // another object in the filter
    socket().receive(push('shop.Product', 13, 'c', { id: 3 })); // neither the instance nor the filter
    socket().receive(push('shop.Product:9', 14, 'd', { id: 9 })); // an automatic subscription (retrieve)
    socket().receive(push('shop.Category', 15, 'e', { id: 1 }, 'shop.Category.created'));
    expect(got).toEqual({ instance: [11], filter: [11, 12, 14], model: [11, 12, 13, 14], other: [15] });
  });

  it('drops a repeated change (by its change id) across rooms and replays; the memory of ids is bounded', async () => {
    const { client, socket } = setup({ dedupe: 2 });
    socket().open();
    const model = await subscribed(client, socket, {}, 'shop.Product');
    const seen: string[] = [];
    model.on('*', (p) => seen.push(p.change));
    const messages: string[] = [];
    client.on('message', (m) => messages.push((m as Push).change));
    socket().receive(push('shop.Product', 1, 'x', { id: 1 }));
    socket().receive(push('shop.Product:1', 4, 'x', { id: 1 }));
    socket().receive(push('shop.Product', 1, 'x', { id: 1 }));
    expect(seen).toEqual(['x']);
    socket().receive(push('shop.Product', 2, 'y', { id: 1 }));
    socket().receive(push('shop.Product', 3, 'z', { id: 1 }));
    socket().receive(push('shop.Product', 1, 'x', { id: 1 })); // forgotten: only the last 2 ids are kept
    expect(seen).toEqual(['x', 'y', 'z', 'x']);
    expect(messages).toEqual(seen);
  });

  it('hands a change to each subscription once, whichever room replays it first', async () => {
    const { client, socket } = setup();
    socket().open();
    const instance = await subscribed(client, socket, { id: 1 }, 'shop.Product:1');
    const filter = await subscribed(client, socket, { filter: { status: 'open' } }, 'shop.Product?f');
    const got: Record<string, string[]> = { instance: [], filter: [] };
    instance.on('*', (p) => got.instance.push(p.change));
    filter.on('*', (p) => got.filter.push(p.change));
    // The filter room's replay comes first (its renewal needs no database read), then the instance room's.
    socket().receive(push('shop.Product?f', 2, 'c2', { id: 1 }));
    socket().receive(push('shop.Product?f', 3, 'c3', { id: 1 }));
    socket().receive(push('shop.Product:1', 2, 'c2', { id: 1 }));
    socket().receive(push('shop.Product:1', 3, 'c3', { id: 1 }));
    socket().receive(push('shop.Product:1', 4, 'c4', { id: 1 }));
    expect(got).toEqual({ instance: ['c2', 'c3', 'c4'], filter: ['c2', 'c3', 'c4'] });
  });

  it('renews every room on reconnect with since = the last seq seen there; replayed repeats are dropped', async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const sub = await subscribed(client, socket, { filter: { price: { gte: 1 } } }, 'shop.Product?f');
    const quiet = await subscribed(client, socket, { id: 5 }, 'shop.Product:5');
    const twin = await subscribed(client, socket, { filter: { price: { gte: 1 } } }, 'shop.Product?f');
    const seen: number[] = [];
    sub.on('*', (p) => seen.push(p.seq));
    socket().receive(push('shop.Product?f', 1, 'c1', { id: 1 }));
    socket().receive(push('shop.Product?f', 2, 'c2', { id: 2 }));
    socket().drop();
    await until(() => sockets.instances.length === 2);
    socket().open();
    const renewals = socket().sent.filter((f) => f.event === 'shop.Product.subscribe');
    // One renewal per room (the twin shares the filter room); the quiet room never saw a push: since 0.
    expect(renewals.map((f) => f.data)).toEqual([
      { filter: { price: { gte: 1 } }, since: 2 },
      { id: 5, since: 0 },
    ]);
    const resyncs: string[] = [];
    client.on('resync', (e) => resyncs.push(e.room));
    // The server replays (a repeat of c2 through another room, then c3) and recovers.
    socket().receive(push('shop.Product?f', 2, 'c2', { id: 2 }));
    socket().receive(push('shop.Product?f', 3, 'c3', { id: 3 }));
    socket().receive({ event: 'shop.Product.subscribe', id: renewals[0].id, data: { room: 'shop.Product?f', recovered: true } });
    socket().receive({ event: 'shop.Product.subscribe', id: renewals[1].id, data: { room: 'shop.Product:5', recovered: true } });
    await tick();
    expect(seen).toEqual([1, 2, 3]);
    expect(resyncs).toEqual([]);
    expect([twin.closed, quiet.closed]).toEqual([false, false]);
    // The next renewal continues from seq 3.
    socket().drop();
    await until(() => sockets.instances.length === 3);
    socket().open();
    expect(
      socket()
        .sent.filter((f) => f.event === 'shop.Product.subscribe')
        .map((f) => f.data.since),
    ).toEqual([3, 0]);
  });

  it('emits resync on the subscription and on the client when the server answers recovered: false', async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const sub = await subscribed(client, socket, { id: 1 }, 'shop.Product:1');
    socket().receive(push('shop.Product:1', 7, 'c7', { id: 1 }));
    const events: string[] = [];
    sub.on('resync', () => events.push('subscription'));
    client.on('resync', (e) => events.push(`client:${e.room}:${e.subscriptions.length}`));
    socket().drop();
    await until(() => sockets.instances.length === 2);
    socket().open();
    const renewal = socket().last('shop.Product.subscribe');
    expect(renewal.data).toEqual({ id: 1, since: 7 });
    socket().receive({ event: renewal.event, id: renewal.id, data: { room: 'shop.Product:1', recovered: false } });
    await tick();
    expect(events).toEqual(['subscription', 'client:shop.Product:1:1']);
    expect(sub.closed).toBe(false);
    // After a resync the old numbering is forgotten.
    socket().drop();
    await until(() => sockets.instances.length === 3);
    socket().open();
    expect(socket().last('shop.Product.subscribe').data).toEqual({ id: 1, since: 0 });
  });

  it("renews from the seq of the subscribe reply when no push came, and from the resync reply's seq after a resync", async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const pending = client.model('shop.Product').subscribe({ id: 1 });
    await until(() => socket().sent.some((f) => f.event === 'shop.Product.subscribe'));
    socket().reply({ room: 'shop.Product:1', seq: 12 }, 'shop.Product.subscribe');
    const sub = await pending;
    const events: string[] = [];
    sub.on('resync', () => events.push('resync'));
    // No push seen: the renewal resumes from the reply's seq, not from 0 (which would replay or resync needlessly).
    socket().drop();
    await until(() => sockets.instances.length === 2);
    socket().open();
    const renewal = socket().last('shop.Product.subscribe');
    expect(renewal.data).toEqual({ id: 1, since: 12 });
    socket().receive({ event: renewal.event, id: renewal.id, data: { room: 'shop.Product:1', seq: 20, recovered: false } });
    await tick();
    expect(events).toEqual(['resync']);
    // After the resync the client refetched as of the room's number then: the next renewal resumes there.
    socket().drop();
    await until(() => sockets.instances.length === 3);
    socket().open();
    const again = socket().last('shop.Product.subscribe');
    expect(again.data).toEqual({ id: 1, since: 20 });
    socket().receive({ event: again.event, id: again.id, data: { room: 'shop.Product:1', seq: 25, recovered: true } });
    await tick();
    socket().drop();
    await until(() => sockets.instances.length === 4);
    socket().open();
    expect(socket().last('shop.Product.subscribe').data).toEqual({ id: 1, since: 25 });
  });

  it('a refused renewal ends the subscription: error event, the iterator throws, no more renewals', async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const sub = await subscribed(client, socket, { id: 1 }, 'shop.Product:1');
    const iterator = sub[Symbol.asyncIterator]();
    const errors: string[] = [];
    sub.on('error', (e) => errors.push(e.code));
    socket().drop();
    await until(() => sockets.instances.length === 2);
    socket().open();
    socket().fail({ code: 'not_found', message: 'Product 1 not found' }, 'shop.Product.subscribe');
    await expect(iterator.next()).rejects.toMatchObject({ code: 'not_found' });
    expect(errors).toEqual(['not_found']);
    expect(sub.closed).toBe(true);
    socket().drop();
    await until(() => sockets.instances.length === 3);
    socket().open();
    expect(socket().sent).toEqual([]);
  });

  it('a busy renewal (rate_limited) is tried again on the same connection', async () => {
    const { client, socket, sockets } = setup({ reconnect: { minDelay: 5, maxDelay: 5 } });
    socket().open();
    const sub = await subscribed(client, socket, { id: 1 }, 'shop.Product:1');
    socket().drop();
    await until(() => sockets.instances.length === 2);
    socket().open();
    socket().fail({ code: 'rate_limited', message: 'slow down' }, 'shop.Product.subscribe');
    await until(() => socket().sent.filter((f) => f.event === 'shop.Product.subscribe').length === 2);
    socket().reply({ room: 'shop.Product:1', recovered: true }, 'shop.Product.subscribe');
    expect(sub.closed).toBe(false);
  });

  it('a subscribe lost with the connection is sent again on the next one; one made while disconnected waits', async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const first = client.model('shop.Product').subscribe({ id: 1 });
    socket().drop();
    const second = client.model('shop.Product').subscribe({ id: 2 });
    await until(() => sockets.instances.length === 2);
    socket().open();
    expect(socket().sent.map((f) => f.data)).toEqual([{ id: 1 }, { id: 2 }]);
    socket().receive({ event: 'shop.Product.subscribe', id: socket().sent[0].id, data: { room: 'shop.Product:1' } });
    socket().receive({ event: 'shop.Product.subscribe', id: socket().sent[1].id, data: { room: 'shop.Product:2' } });
    expect((await first).room).toBe('shop.Product:1');
    expect((await second).room).toBe('shop.Product:2');
  });

  it('a push that overtakes the subscribe reply is still delivered', async () => {
    const { client, socket } = setup();
    socket().open();
    const pending = client.model('shop.Product').subscribe({ id: 4 });
    socket().receive(push('shop.Product:4', 1, 'early', { id: 4 }));
    socket().reply({ room: 'shop.Product:4' }, 'shop.Product.subscribe');
    const sub = await pending;
    const got: string[] = [];
    sub.on('*', (p) => got.push(p.change));
    const iterator = sub[Symbol.asyncIterator]();
    expect(sub.room).toBe('shop.Product:4');
    socket().receive(push('shop.Product:4', 2, 'later', { id: 4 })); // waits behind the held one
    expect(got).toEqual([]);
    await tick();
    expect(got).toEqual(['early', 'later']);
    expect((await iterator.next()).value.change).toBe('early');
    socket().drop();
    await until(() => client.state === 'reconnecting');
    await until(() => socket().readyState === 0);
    socket().open();
    expect(socket().last('shop.Product.subscribe').data).toEqual({ id: 4, since: 2 });
  });

  it('unsubscribe leaves the room on the server only when no other subscription holds it; iteration ends', async () => {
    const { client, socket } = setup();
    socket().open();
    const a = await subscribed(client, socket, { id: 1 }, 'shop.Product:1');
    const b = await subscribed(client, socket, { id: 1 }, 'shop.Product:1');
    const iterate = (async () => {
      const got: number[] = [];
      for await (const p of a) got.push(p.seq);
      return got;
    })();
    socket().receive(push('shop.Product:1', 1, 'c1', { id: 1 }));
    await a.unsubscribe();
    expect(await iterate).toEqual([1]);
    expect(socket().sent.filter((f) => f.event === 'shop.Product.unsubscribe')).toEqual([]);
    const gotB: number[] = [];
    b.on('*', (p) => gotB.push(p.seq));
    socket().receive(push('shop.Product:1', 2, 'c2', { id: 1 }));
    expect(gotB).toEqual([1, 2].slice(1));
    const leaving = b.unsubscribe();
    expect(socket().last()).toMatchObject({ event: 'shop.Product.unsubscribe', data: { room: 'shop.Product:1' } });
    socket().reply({ room: 'shop.Product:1' });
    await leaving;
    expect(b.closed).toBe(true);
  });

  it('a failed subscribe rejects with the server error and is not renewed', async () => {
    const { client, socket, sockets } = setup();
    socket().open();
    const pending = client.model('shop.Product').subscribe({ id: 99 });
    socket().fail({ code: 'forbidden', message: 'Not allowed to retrieve Product' });
    await expect(pending).rejects.toMatchObject({ code: 'forbidden', message: 'Not allowed to retrieve Product' });
    socket().drop();
    await until(() => sockets.instances.length === 2);
    socket().open();
    expect(socket().sent).toEqual([]);
  });

  it('close() ends subscriptions and their iterators, and rejects what waits', async () => {
    const { client, socket } = setup();
    socket().open();
    const sub = await subscribed(client, socket, {}, 'shop.Product');
    const next = sub[Symbol.asyncIterator]().next();
    const inflight = client.request('x');
    await client.close();
    expect(await next).toEqual({ value: undefined, done: true });
    expect((await inflight.then(resolved, reason)).code).toBe('disconnected');
    expect(sub.closed).toBe(true);
    expect(socket().closedWith).toBe(1000);
  });

  it('server messages that are not replies or pushes reach on(message)', () => {
    const { client, socket } = setup();
    socket().open();
    const got: unknown[] = [];
    client.on('message', (m) => got.push(m));
    socket().receive({ event: 'chat.message', room: 'chat', data: { text: 'hi' } });
    socket().receive('not json');
    socket().receive([1, 2]);
    expect(got).toEqual([{ event: 'chat.message', room: 'chat', data: { text: 'hi' } }]);
  });
});
