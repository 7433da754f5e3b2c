import { Injectable } from '@nestjs/common';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { connect, type BindingClient, type ConnectOptions, type ConnectionState, type LiveList, type Push, type SearchQuery } from '../../lib/client/index.js';
import { OnStream } from '../../lib/index.js';
import { WsTransport } from '../../lib/transports/ws/ws-transport.js';
import { queryTokenAuth, signToken } from '../../sample/auth.examples.js';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { settle, startApp, type TestApp } from '../fixtures/harness.js';
import { reason, resolved, tick, until } from './fake-websocket.js';

/**
 * nest-bindings/client against a real app over `ws` (Node 20 has no global WebSocket):
 * the actions, pushes, and what happens across a lost connection (server-side close and
 * a network-style abort): nothing lost, nothing twice, and `resync` when the server
 * cannot replay.
 */

@Injectable()
class Echo {
  @OnStream('test.echo')
  echo(data: unknown) {
    return { echoed: data };
  }
}

type P = { id: number; name: string; price: number; status: string; version: number };

const clients: BindingClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** A client whose reconnection waits for `hold()`'s gate to open, so a test can change data while it is away. */
function client(t: TestApp, options: ConnectOptions = {}) {
  let gate: Promise<void> = Promise.resolve();
  let release = () => undefined as void;
  const states: ConnectionState[] = [];
  const c = connect(t.ws, {
    WebSocket: WebSocket as any,
    heartbeat: 0,
    reconnect: { minDelay: 10, maxDelay: 40 },
    ...options,
    token: async () => {
      await gate;
      return options.token as string | undefined;
    },
  });
  clients.push(c);
  c.on('state', (s) => states.push(s));
  return {
    c,
    states,
    /** The next connection attempts wait until the returned function is called. */
    hold(): () => void {
      gate = new Promise<void>((resolve) => (release = resolve));
      return () => release();
    },
  };
}

/** Drops every server-side socket of the app: a clean close (1012) or a network-style abort (no close frame). */
function drop(t: TestApp, how: 'close' | 'terminate'): void {
  for (const ws of t.app.get(WsTransport).connections.keys()) {
    if (how === 'close') ws.close(1012, 'service restart');
    else ws.terminate();
  }
}

/** Reads `fresh` every `ms` (up to 5 s) until it equals the list's count and rows; answers the last page read. */
async function caughtUp(list: { count: number; rows: unknown }, fresh: () => Promise<{ count: number; rows: unknown }>, ms: number) {
  const end = Date.now() + 5000;
  let page = await fresh();
  while (JSON.stringify([list.count, list.rows]) !== JSON.stringify([page.count, page.rows]) && Date.now() < end) {
    await tick(ms);
    page = await fresh();
  }
  return page;
}

describe('against a real app', () => {
  let t: TestApp;
  let n = 0;
  beforeAll(async () => {
    t = await startApp([Product, Category, NoteEntity], {}, { providers: [Echo] });
  });
  afterAll(() => t.close());
  const repo = () => t.dataSource.getRepository(Product);

  it('serves every action through the typed model, custom events through request, errors with code/message/details', async () => {
    const { c } = client(t);
    const products = c.model<P>('shop.Product');
    const created = await products.create({ name: `act-${++n}`, price: 5 }); // queued until the socket opens
    expect(created).toMatchObject({ name: `act-${n}`, price: 5, status: 'open' });
    expect(await products.retrieve(created.id)).toEqual(created);
    expect((await products.update(created.id, { price: 6 })).price).toBe(6);
    expect((await products.save({ id: created.id, status: 'closed' })).status).toBe('closed');
    const page = await products.list({ filter: { name: created.name }, order: { price: 'DESC' } });
    expect([page.count, page.rows[0].id]).toEqual([1, created.id]);
    expect((await products.search({ q: `act-${n}` })).count).toBe(1);
    expect(await products.delete(created.id)).toEqual({ id: created.id });
    expect(await c.request('test.echo', [1, 'a'])).toEqual({ echoed: [1, 'a'] });
    expect(await c.request('ping', 'hello')).toBe('hello');

    const missing = await products.retrieve(created.id).then(resolved, reason);
    expect([missing.name, missing.code, missing.message]).toEqual(['BindingClientError', 'not_found', `Product ${created.id} not found`]);
    const invalid = await products.create({ name: '', price: -1 }).then(resolved, reason);
    expect(invalid.code).toBe('bad_request');
    expect(invalid.details.map((d: any) => d.field).sort()).toEqual(['name', 'price']);
    expect((await c.request('no.such.event').then(resolved, reason)).code).toBe('unknown_event');
  });

  it('delivers pushes to on(name) and to for-await, and stops after unsubscribe', async () => {
    const { c } = client(t);
    const products = c.model<P>('shop.Product');
    const p = await products.create({ name: `push-${++n}`, price: 1 });
    const sub = await products.subscribe({ id: p.id });
    expect(sub.room).toBe(`shop.Product:${p.id}`);
    const named: string[] = [];
    sub.on('updated', (push) => named.push(`updated:${push.data.price}`));
    sub.on('shop.Product.deleted', (push) => named.push(`deleted:${push.data.id}`));
    const iterated = (async () => {
      const got: Array<[string, number]> = [];
      for await (const push of sub) {
        got.push([push.event, push.seq]);
        if (got.length === 3) break;
      }
      return got;
    })();
    await repo().update(p.id, { price: 2 });
    await products.update(p.id, { price: 3 });
    await repo().delete(p.id);
    expect(await iterated).toEqual([
      ['shop.Product.updated', 1],
      ['shop.Product.updated', 2],
      ['shop.Product.deleted', 3],
    ]);
    expect(named).toEqual(['updated:2', 'updated:3', `deleted:${p.id}`]);
    const q = await products.create({ name: `push-${++n}`, price: 1 });
    const model = await products.subscribe({});
    const seen: number[] = [];
    model.on('*', (push) => seen.push(push.data.id));
    await model.unsubscribe();
    await repo().update(q.id, { price: 9 });
    await tick(100);
    expect(seen).toEqual([]);
  });

  it.each(['close', 'terminate'] as const)('loses and repeats nothing across a dropped connection (%s): replay with since, dedupe by change', async (how) => {
    const prefix = `recon-${how}`;
    const { c, states, hold } = client(t);
    const products = c.model<P>('shop.Product');
    const p = await products.create({ name: `${prefix}-a`, price: 1 });
    // Two rooms hold the same object: its changes come once, through the instance room;
    // after reconnecting both rooms replay them, and the client must drop the repeats.
    const instance = await products.subscribe({ id: p.id });
    const filter = await products.subscribe({ filter: { name: { like: `${prefix}-%` } } });
    const viaInstance: Push<P>[] = [];
    const viaFilter: Push<P>[] = [];
    instance.on('*', (push) => viaInstance.push(push));
    filter.on('*', (push) => viaFilter.push(push));
    const resyncs: string[] = [];
    c.on('resync', (e) => resyncs.push(e.room));

    await products.update(p.id, { price: 2 });
    await until(() => viaInstance.length === 1);

    const release = hold();
    drop(t, how);
    await until(() => states.at(-1) === 'reconnecting');
    // Changes while the client is away, by other code of the application.
    await repo().update(p.id, { price: 3 });
    const b = await repo().save(repo().create({ name: `${prefix}-b`, price: 10 }));
    await t.dataSource.transaction((m) => m.getRepository(Product).update(p.id, { price: 4 }));
    const queued = products.retrieve(p.id); // waits in the queue
    release();
    await c.ready();
    expect((await queued).price).toBe(4);
    await products.update(p.id, { price: 5 });
    await until(() => viaInstance.length >= 4 && viaFilter.length >= 5);
    await tick(100); // anything extra would arrive now

    expect(states).toEqual(['open', 'reconnecting', 'open']);
    expect(resyncs).toEqual([]);
    expect(viaInstance.map((x) => [x.seq, x.data.price])).toEqual([
      [1, 2],
      [2, 3],
      [3, 4],
      [4, 5],
    ]);
    const changes = viaFilter.map((x) => x.change);
    expect(new Set(changes).size).toBe(changes.length);
    expect(viaFilter.map((x) => `${x.data.name}:${x.data.price}`).sort()).toEqual([
      `${prefix}-a:2`,
      `${prefix}-a:3`,
      `${prefix}-a:4`,
      `${prefix}-a:5`,
      `${prefix}-b:10`,
    ]);
    expect(viaFilter.find((x) => x.data.id === b.id)?.event).toBe('shop.Product.created');
    expect(viaInstance.map((x) => x.change)).toEqual(viaFilter.filter((x) => x.data.id === p.id).map((x) => x.change));
  });
  it('keeps live lists (pages 1 and 2, ordered, with a search) equal to fresh lists through every kind of write, a transaction and a reconnect', async () => {
    const prefix = `live-${++n}`;
    const { c, hold } = client(t);
    const products = c.model<P>('shop.Product');
    const writer = client(t).c.model<P>('shop.Product');
    const repo = t.dataSource.getRepository(Product);
    const made = await repo.save([5, 1, 8, 3, 9, 2].map((price, i) => ({ name: `${prefix}-${i}`, price })));
    const queries = [
      { filter: { name: { like: `${prefix}-%` } }, order: { price: 'DESC' as const }, limit: 3 },
      { filter: { name: { like: `${prefix}-%` } }, order: { price: 'DESC' as const }, limit: 3, page: 2 },
      { q: prefix, order: { name: 'ASC' as const }, limit: 4 },
    ];
    const lists = await Promise.all(queries.map((query) => products.live(query)));
    expect(lists.map((l) => l.action)).toEqual(['list', 'list', 'search']);
    const heard: string[] = [];
    lists[0].on('change', (change) => heard.push(change.reason));
    const iterated: number[] = [];
    void (async () => {
      for await (const change of lists[1]) iterated.push(change.count);
    })();
    /** Once the changes have arrived (polled, up to 5 s), each list equals a fresh list of its request. */
    const current = async () => {
      for (const [i, list] of lists.entries()) {
        const page = await caughtUp(list, () => ('q' in queries[i] ? writer.search(queries[i]) : writer.list(queries[i])), 25);
        expect([i, list.count, list.rows]).toEqual([i, page.count, page.rows]);
      }
    };
    await current();
    expect(lists[0].rows.map((r) => r.price)).toEqual([9, 8, 5]);

    await writer.create({ name: `${prefix}-6`, price: 7 }); // enters page 1, pushes a row onto page 2
    await current();
    await writer.update(made[1].id, { price: 10 }); // from page 2 to the top of page 1
    await current();
    await repo.update({ id: made[4].id }, { price: 0 }); // plain TypeORM, from the top to the end
    await current();
    await t.dataSource.transaction(async (manager) => {
      await manager.getRepository(Product).delete({ id: made[0].id });
      await manager.getRepository(Product).save({ name: `${prefix}-7`, price: 6 });
    });
    await current();
    await writer.delete(made[2].id);
    await current();
    expect(heard.length).toBeGreaterThanOrEqual(4);
    expect(heard.every((reason) => reason === 'frame')).toBe(true);
    expect(iterated.length).toBeGreaterThan(0);

    // Away: changes made meanwhile are in the page read again after the reconnect.
    const release = hold();
    drop(t, 'terminate');
    await until(() => c.state === 'reconnecting');
    await repo.save({ name: `${prefix}-8`, price: 100 });
    await repo.update({ id: made[3].id }, { price: 50 });
    release();
    await until(() => heard.includes('reload'));
    await current();
    expect(lists[0].rows[0].price).toBe(100);
    await writer.update(made[5].id, { price: 75 }); // frames flow on the new connection
    await current();

    // close() ends one list; the others go on.
    await lists[0].close();
    const before = lists[0].rows;
    await writer.create({ name: `${prefix}-9`, price: 200 });
    await settle(100);
    expect(lists[0].rows).toBe(before);
    lists.shift();
    queries.shift();
    await current();
  });
});

describe('a replay buffer too small for the gap', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp([Product, Category, NoteEntity], { replay: { size: 1 } });
  });
  afterAll(() => t.close());

  it('answers recovered: false; the client emits resync on the subscription and the client, the app refetches, live pushes go on', async () => {
    const { c, hold } = client(t);
    const products = c.model<P>('shop.Product');
    const p = await products.create({ name: 'resync-1', price: 1 });
    const sub = await products.subscribe({ id: p.id });
    const pushes: number[] = [];
    sub.on('updated', (push) => pushes.push(push.data.price));
    const resyncs: string[] = [];
    sub.on('resync', () => resyncs.push('subscription'));
    c.on('resync', (e) => resyncs.push(`client ${e.room}`));
    let refetched: P | undefined;
    sub.on('resync', () => void products.retrieve(p.id).then((row) => (refetched = row)));
    await products.update(p.id, { price: 2 });
    await until(() => pushes.length === 1);

    const release = hold();
    drop(t, 'terminate');
    await until(() => c.state === 'reconnecting');
    for (const price of [3, 4, 5]) await t.dataSource.getRepository(Product).update(p.id, { price });
    release();
    await until(() => refetched !== undefined);
    expect(resyncs).toEqual(['subscription', `client shop.Product:${p.id}`]);
    expect(refetched!.price).toBe(5);
    expect(pushes).toEqual([2]); // nothing replayed from a buffer that lost seq 2 and 3
    await products.update(p.id, { price: 6 });
    await until(() => pushes.length === 2);
    expect(pushes).toEqual([2, 6]);
  });

  it("renews from the subscribe reply's seq: a subscription that saw no push resumes without a needless resync", async () => {
    const first = client(t).c.model<P>('shop.Product');
    const p = await first.create({ name: 'resume-1', price: 1 });
    await first.subscribe({ id: p.id }); // the room exists from here on and numbers the updates
    for (const price of [2, 3, 4]) await t.dataSource.getRepository(Product).update(p.id, { price });
    const { c, hold } = client(t);
    const products = c.model<P>('shop.Product');
    const sub = await products.subscribe({ id: p.id });
    const seen: Array<[number, number]> = [];
    sub.on('updated', (push) => seen.push([push.seq, push.data.price]));
    const resyncs: string[] = [];
    sub.on('resync', () => resyncs.push('resync'));
    await settle(50);
    expect(seen).toEqual([]);

    const release = hold();
    drop(t, 'terminate');
    await until(() => c.state === 'reconnecting');
    release();
    await until(() => c.state === 'open');
    await settle(100); // the renewal's reply
    // Renewed with since 3 (the reply's seq), not 0, which the one-push buffer could not serve.
    expect(resyncs).toEqual([]);
    await products.update(p.id, { price: 5 });
    await until(() => seen.length === 1);
    expect(seen).toEqual([[4, 5]]);
  });
});

describe('token and frame keys', () => {
  let t: TestApp;
  const secret = 'client-secret';
  beforeAll(async () => {
    t = await startApp([Product, Category, NoteEntity], {
      authenticate: queryTokenAuth(secret),
      anonymous: false,
      protocol: { eventKey: 'type', dataKey: 'payload' },
    });
  });
  afterAll(() => t.close());

  it("sends the token as ?token= (read by the app's authenticate) and speaks the configured keys", async () => {
    const keys = { eventKey: 'type', dataKey: 'payload' };
    const { c } = client(t, { token: signToken(secret, { id: 7, name: 'grace' }), keys });
    const products = c.model<P>('shop.Product');
    const p = await products.create({ name: 'keyed', price: 1 });
    const sub = await products.subscribe({ id: p.id });
    const got: Push<P>[] = [];
    sub.on('updated', (push) => got.push(push));
    await products.update(p.id, { price: 2 });
    await until(() => got.length === 1);
    expect(got[0]).toMatchObject({ event: 'shop.Product.updated', type: 'shop.Product.updated', data: { price: 2 }, payload: { price: 2 } });

    const refused = client(t, { token: 'forged', keys, queue: false });
    await until(() => refused.states.includes('reconnecting'));
    await tick(50);
    expect(refused.states).not.toContain('open');
  });
});

describe('live lists under random changes', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Every step compares four pages with fresh reads: more requests per second than the default limit.
    t = await startApp([Product, Category, NoteEntity], { limits: { framesPerSecond: 100_000, burst: 100_000 } });
  });
  afterAll(() => t.close());

  it('the client applies every frame (no page read again) and each list equals a fresh one after each step (seeded, printed)', async () => {
    const seed = Number(process.env.LIVE_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`client live-lists test: LIVE_SEED=${seed}`);
    const { c } = client(t);
    const writer = client(t).c.model<P>('shop.Product');
    const repo = t.dataSource.getRepository(Product);
    const queries: SearchQuery<P>[] = [
      { order: { price: 'DESC' }, limit: 4 },
      { order: { price: 'ASC' }, limit: 3, page: 2 },
      { filter: { status: 'open' }, order: { name: 'ASC' }, limit: 5 },
      { q: 'p1', order: { price: 'DESC' }, limit: 3 },
    ];
    const lists: LiveList<P>[] = [];
    for (const query of queries) lists.push(await c.model<P>('shop.Product').live(query));
    const reloads: number[] = [];
    lists.forEach((list, i) => list.on('change', (change) => change.reason === 'reload' && reloads.push(i)));

    let made = 0;
    const step = fc.record({
      what: fc.constantFrom('create', 'update', 'typeorm update', 'delete', 'typeorm delete', 'transaction', 'rollback'),
      price: fc.integer({ min: 0, max: 30 }),
      open: fc.boolean(),
      pick: fc.nat(1000),
    });
    for (const [i, s] of fc.sample(step, { seed, numRuns: 150 }).entries()) {
      const all = await repo.find({ order: { id: 'ASC' } });
      const row = all.length ? all[s.pick % all.length] : undefined;
      const status = s.open ? 'open' : 'closed';
      if (s.what === 'create' || !row) await writer.create({ name: `p${++made}`, price: s.price, status });
      else if (s.what === 'update') await writer.update(row.id, { price: s.price, status });
      else if (s.what === 'typeorm update') await repo.update({ id: row.id }, { price: s.price });
      else if (s.what === 'delete') await writer.delete(row.id);
      else if (s.what === 'typeorm delete') await repo.delete(row.id);
      else {
        const done = t.dataSource.transaction(async (manager) => {
          await manager.getRepository(Product).update({ id: row.id }, { price: s.price, status });
          await manager.getRepository(Product).save({ name: `p${++made}`, price: 30 - s.price });
          if (s.what === 'rollback') throw new Error('rolled back');
        });
        if (s.what === 'rollback') await expect(done).rejects.toThrow('rolled back');
        else await done;
      }
      for (const [k, list] of lists.entries()) {
        const page = await caughtUp(list, () => ('q' in queries[k] ? writer.search(queries[k]) : writer.list(queries[k])), 20);
        expect([`seed ${seed} step ${i} ${JSON.stringify(s)} list ${k}`, list.count, list.rows]).toEqual([
          `seed ${seed} step ${i} ${JSON.stringify(s)} list ${k}`,
          page.count,
          page.rows,
        ]);
      }
    }
    expect(reloads).toEqual([]);
    expect(lists.map((l) => l.seq).every((seq) => seq > 0)).toBe(true);
  }, 120_000);
});
