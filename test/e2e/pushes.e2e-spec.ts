import { Inject, Injectable } from '@nestjs/common';
import { IsString } from 'class-validator';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Binding, BindingsService, OnStream } from '../../lib/index.js';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

/**
 * PROTOCOL.md section 4 (rooms and pushes) and the BindingsService of section 1.
 * Each test works on its own rows and filters, so rooms and their `seq` start fresh.
 */

/** Custom event whose handler answers through BindingsService.send on the caller's socket. */
@Injectable()
class Greeter {
  constructor(@Inject(BindingsService) private readonly bindings: BindingsService) {}

  @OnStream('test.greet')
  greet(data: { name: string }, ctx: { socket?: any }) {
    const sent = this.bindings.send(ctx.socket, 'test.greeting', { hello: data.name });
    return { sent };
  }
}

/** Subscribed automatically by create and update, not by retrieve. */
@Binding({ app: 'auto', autoSubscribe: ['create', 'update'] })
@Entity()
class Ticket {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() title: string;
}

/** Never subscribed automatically. */
@Binding({ app: 'auto', autoSubscribe: [] })
@Entity()
class Memo {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() text: string;
}

let t: TestApp;
let n = 0;
const sockets: TestSocket[] = [];
const unique = (prefix = 'p') => `${prefix}-${++n}`;

beforeAll(async () => {
  t = await startApp([Product, Category, NoteEntity, Ticket, Memo], {}, { providers: [Greeter] });
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await t.close();
});

async function open(url = t.ws): Promise<TestSocket> {
  const s = await TestSocket.open(url);
  sockets.push(s);
  return s;
}

const products = () => t.dataSource.getRepository(Product);

async function product(fields: Partial<Product> = {}, app = t): Promise<Product> {
  return app.dataSource.getRepository(Product).save({ name: unique(), price: 10, ...fields });
}

/** The data of a successful reply, failing the test with the error otherwise. */
async function ok(s: TestSocket, event: string, data?: unknown): Promise<any> {
  const reply = await s.request(event, data);
  expect(reply.error).toBeUndefined();
  return reply.data;
}

/** Waits until `s` holds `count` pushes, then a little more so an extra one would show. */
async function pushes(s: TestSocket, count: number, wait = 60): Promise<any[]> {
  if (count > 0) await s.waitFor(() => s.pushes().length >= count);
  await settle(wait);
  return s.pushes();
}

/** Raw text of every frame `s` receives from now on. */
function raw(s: TestSocket): string[] {
  const texts: string[] = [];
  s.socket.on('message', (data) => texts.push(data.toString()));
  return texts;
}

describe('room names', () => {
  it('names the instance, model and filter rooms', async () => {
    const s = await open();
    const p = await product();
    // The reply carries the room's last number: none yet for a room made after the object was created.
    expect(await ok(s, 'shop.Product.subscribe', { id: p.id })).toEqual({ room: `shop.Product:${p.id}`, seq: 0 });
    const model = await ok(s, 'shop.Product.subscribe', {});
    expect(model).toEqual({ room: 'shop.Product', seq: expect.any(Number) });
    expect(await ok(s, 'shop.Product.subscribe', { filter: {} })).toEqual(model);
    const filtered = await ok(s, 'shop.Product.subscribe', { filter: { status: 'open' } });
    expect(filtered.room).toMatch(/^shop\.Product\?[A-Za-z0-9_-]+$/);
    expect(await ok(s, 'app.Note.subscribe', {})).toEqual({ room: 'app.Note', seq: expect.any(Number) });
  });

  it('equal filters written differently share one room; different filters do not', async () => {
    const s = await open();
    const a = await ok(s, 'shop.Product.subscribe', { filter: { status: 'open', price: { gte: 10, lt: 100 } } });
    const b = await ok(s, 'shop.Product.subscribe', { filter: { price: { lt: 100, gte: 10 }, status: 'open' } });
    const c = await ok(s, 'shop.Product.subscribe', { filter: { $and: [{ price: { lt: 100 } }, { status: 'open', price: { gte: 10 } }] } });
    const d = await ok(s, 'shop.Product.subscribe', { filter: { status: 'open', price: { gte: 10, lt: 101 } } });
    expect(b.room).toBe(a.room);
    expect(c.room).toBe(a.room);
    expect(d.room).not.toBe(a.room);
    // Same filter, other model: other room.
    const other = await ok(s, 'app.Note.subscribe', { filter: { id: { gte: 10 } } });
    expect(other.room.startsWith('app.Note?')).toBe(true);
  });

  it('a shared filter room delivers to both subscribers', async () => {
    const [a, b] = [await open(), await open()];
    const price = 7001;
    const ra = await ok(a, 'shop.Product.subscribe', { filter: { price, status: 'open' } });
    const rb = await ok(b, 'shop.Product.subscribe', { filter: { status: 'open', price } });
    expect(rb.room).toBe(ra.room);
    await product({ price });
    const [pa] = await pushes(a, 1);
    const [pb] = await pushes(b, 1);
    expect(pa).toMatchObject({ room: ra.room, seq: 1 });
    expect(pb).toMatchObject({ room: ra.room, seq: 1, change: pa.change });
  });
});

describe('push frames', () => {
  it('an instance subscriber gets updated and deleted pushes of that object only', async () => {
    const s = await open();
    const p = await product({ price: 1 });
    const other = await product({ price: 1 });
    await ok(s, 'shop.Product.subscribe', { id: p.id });
    await products().update({ id: other.id }, { price: 2 });
    await products().update({ id: p.id }, { price: 3 });
    await products().delete(p.id);
    const got = await pushes(s, 2);
    expect(got).toHaveLength(2);
    expect(got[0]).toMatchObject({
      event: 'shop.Product.updated',
      room: `shop.Product:${p.id}`,
      seq: 1,
      data: { id: p.id, price: 3 },
      changes: expect.arrayContaining(['price']),
    });
    expect(got[1]).toMatchObject({ event: 'shop.Product.deleted', room: `shop.Product:${p.id}`, seq: 2, data: { id: p.id, price: 3 } });
    expect(typeof got[0].change).toBe('string');
    expect(got[0]).not.toHaveProperty('id');
  });

  it('a model subscriber gets created, updated and deleted pushes', async () => {
    const s = await open();
    await ok(s, 'app.Note.subscribe', {});
    const note = await t.dataSource.getRepository(NoteEntity).save({ body: 'x' });
    await t.dataSource.getRepository(NoteEntity).update({ id: note.id }, { done: true });
    await t.dataSource.getRepository(NoteEntity).delete(note.id);
    const got = await pushes(s, 3);
    expect(got.map((p) => p.event)).toEqual(['app.Note.created', 'app.Note.updated', 'app.Note.deleted']);
    expect(got.every((p) => p.room === 'app.Note')).toBe(true);
    expect(got[1].changes).toEqual(['done']);
    expect(got[2].data).toMatchObject({ id: note.id, done: true });
  });

  it('a filter subscriber is notified when the object matched before or after, not when neither', async () => {
    const s = await open();
    const { room } = await ok(s, 'shop.Product.subscribe', { filter: { price: { gte: 5000, lt: 6000 } } });
    const p = await product({ price: 100 }); // matches neither: nothing
    await products().update({ id: p.id }, { price: 200 }); // neither: nothing
    await products().update({ id: p.id }, { price: 5500 }); // enters the set
    await products().update({ id: p.id }, { price: 5600 }); // stays in it
    await products().update({ id: p.id }, { price: 300 }); // leaves it: still notified
    await products().update({ id: p.id }, { price: 400 }); // outside again: nothing
    const inside = await product({ price: 5001 }); // created inside
    await products().delete(inside.id); // deleted from inside
    const got = await pushes(s, 5);
    expect(got.map((x) => [x.event, x.data.price])).toEqual([
      ['shop.Product.updated', 5500],
      ['shop.Product.updated', 5600],
      ['shop.Product.updated', 300],
      ['shop.Product.created', 5001],
      ['shop.Product.deleted', 5001],
    ]);
    expect(got.map((x) => x.room)).toEqual([room, room, room, room, room]);
    expect(got.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('one push per change for a socket in instance, filter and model rooms, naming the most specific room', async () => {
    // Category's model room is used by this test alone, so its seq starts at 1 here.
    const s = await open();
    const modelOnly = await open();
    const categories = t.dataSource.getRepository(Category);
    const x = await categories.save({ title: 'x-in-filter' });
    const y = await categories.save({ title: 'y-in-filter' });
    const z = await categories.save({ title: 'z-outside' });
    await ok(s, 'shop.Category.subscribe', { id: x.id });
    const { room: filterRoom } = await ok(s, 'shop.Category.subscribe', { filter: { title: { like: '%-in-filter%' } } });
    await ok(s, 'shop.Category.subscribe', {});
    await ok(modelOnly, 'shop.Category.subscribe', {});

    await categories.update({ id: x.id }, { title: 'x-in-filter!' }); // instance + filter + model
    await categories.update({ id: y.id }, { title: 'y-in-filter!' }); // filter + model
    await categories.update({ id: z.id }, { title: 'z-outside!' }); // model
    await categories.update({ id: x.id }, { title: 'x-in-filter!!' }); // instance + filter + model

    const got = await pushes(s, 4);
    expect(got).toHaveLength(4);
    expect(got.map((p) => [p.room, p.seq])).toEqual([
      [`shop.Category:${x.id}`, 1],
      [filterRoom, 2],
      ['shop.Category', 3],
      [`shop.Category:${x.id}`, 2],
    ]);
    const model = await pushes(modelOnly, 4);
    expect(model.map((p) => [p.room, p.seq])).toEqual([
      ['shop.Category', 1],
      ['shop.Category', 2],
      ['shop.Category', 3],
      ['shop.Category', 4],
    ]);
    // One change, one `change` value, whichever room carried it; different changes differ.
    expect(model.map((p) => p.change)).toEqual(got.map((p) => p.change));
    expect(new Set(got.map((p) => p.change)).size).toBe(4);
  });

  it('the change id is the same for every socket and room of one change', async () => {
    const [a, b, c] = [await open(), await open(), await open()];
    const p = await product({ price: 8100 });
    await ok(a, 'shop.Product.subscribe', { id: p.id });
    await ok(b, 'shop.Product.subscribe', { filter: { price: { gte: 8100, lte: 8199 } } });
    await ok(c, 'shop.Product.subscribe', { filter: { price: { gte: 8100, lte: 8198 } } });
    await products().update({ id: p.id }, { price: 8150 });
    await products().update({ id: p.id }, { price: 8160 });
    const [pa, pb, pc] = [await pushes(a, 2), await pushes(b, 2), await pushes(c, 2)];
    expect(pa[0].room).not.toBe(pb[0].room);
    expect(pb[0].room).not.toBe(pc[0].room);
    expect(pb[0].change).toBe(pa[0].change);
    expect(pc[0].change).toBe(pa[0].change);
    expect(pb[1].change).toBe(pa[1].change);
    expect(pa[1].change).not.toBe(pa[0].change);
  });

  it('sockets of one room receive byte-identical frames', async () => {
    const [a, b] = [await open(), await open()];
    const [ta, tb] = [raw(a), raw(b)];
    const p = await product();
    await ok(a, 'shop.Product.subscribe', { id: p.id });
    await ok(b, 'shop.Product.subscribe', { id: p.id });
    ta.length = 0;
    tb.length = 0;
    await products().update({ id: p.id }, { price: 99 });
    await pushes(a, 1);
    await pushes(b, 1);
    expect(ta).toHaveLength(1);
    expect(tb).toEqual(ta);
    expect(JSON.parse(ta[0])).toMatchObject({ event: 'shop.Product.updated', room: `shop.Product:${p.id}`, seq: 1 });
  });
});

describe('autoSubscribe and unsubscribe', () => {
  it('a retrieve subscribes the socket to that object (default autoSubscribe)', async () => {
    const s = await open();
    const p = await product();
    const other = await product();
    await ok(s, 'shop.Product.retrieve', { id: p.id });
    await ok(s, 'shop.Product.list', { filter: { id: other.id } }); // list does not subscribe
    await products().update({ id: other.id }, { price: 1 });
    await products().update({ id: p.id }, { price: 2 });
    const got = await pushes(s, 1);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ room: `shop.Product:${p.id}`, seq: 1, data: { id: p.id, price: 2 } });
  });

  it('a retrieve that fails subscribes nothing', async () => {
    const s = await open();
    const reply = await s.request('shop.Product.retrieve', { id: 999999 });
    expect(reply.error.code).toBe('not_found');
    await products().save({ id: 999999, name: unique(), price: 1 });
    expect(await pushes(s, 0)).toEqual([]);
  });

  it('autoSubscribe names the actions that subscribe: here create and update, not retrieve', async () => {
    const s = await open();
    const tickets = t.dataSource.getRepository(Ticket);
    const viaCreate = await ok(s, 'auto.Ticket.create', { title: 'a' });
    const existing = await tickets.save({ title: 'b' });
    const retrieved = await tickets.save({ title: 'c' });
    await ok(s, 'auto.Ticket.retrieve', { id: retrieved.id });
    await ok(s, 'auto.Ticket.update', { id: existing.id, title: 'b1' });
    s.frames.length = 0;
    for (const id of [viaCreate.id, existing.id, retrieved.id]) await tickets.update({ id }, { title: `changed-${id}` });
    const got = await pushes(s, 2);
    expect(got.map((p) => p.room).sort()).toEqual([`auto.Ticket:${viaCreate.id}`, `auto.Ticket:${existing.id}`].sort());
  });

  it('autoSubscribe: [] subscribes nothing by itself', async () => {
    const s = await open();
    const memo = await ok(s, 'auto.Memo.create', { text: 'x' });
    await ok(s, 'auto.Memo.retrieve', { id: memo.id });
    await ok(s, 'auto.Memo.update', { id: memo.id, text: 'y' });
    await t.dataSource.getRepository(Memo).update({ id: memo.id }, { text: 'z' });
    expect(await pushes(s, 0)).toEqual([]);
    expect(
      t.app
        .get(BindingsService)
        .rooms()
        .some((r) => r.room.startsWith('auto.Memo')),
    ).toBe(false);
  });

  it('subscribing to a missing object is not_found and to a bad filter bad_request; neither subscribes', async () => {
    const s = await open();
    const service = t.app.get(BindingsService);
    const before = service.rooms().length;
    expect((await s.request('shop.Product.subscribe', { id: 888888 })).error.code).toBe('not_found');
    expect((await s.request('shop.Product.subscribe', { filter: { secret: 'x' } })).error.code).toBe('bad_request');
    expect((await s.request('shop.Product.subscribe', { filter: { price: { near: 3 } } })).error.code).toBe('bad_request');
    expect((await s.request('shop.Product.subscribe', { id: 1, filter: {} })).error.code).toBe('bad_request');
    expect((await s.request('shop.Product.subscribe', { everything: true })).error.code).toBe('bad_request');
    expect(service.rooms().length).toBe(before);
  });

  it('unsubscribe by id, filter and room stops the pushes', async () => {
    const s = await open();
    const p = await product({ price: 9100 });
    await ok(s, 'shop.Product.subscribe', { id: p.id });
    const filter = { price: { gte: 9100, lt: 9200 } };
    const { room: filterRoom } = await ok(s, 'shop.Product.subscribe', { filter });
    const q = await product({ price: 9300 });
    const { room: qRoom } = await ok(s, 'shop.Product.subscribe', { id: q.id });

    await products().update({ id: p.id }, { price: 9101 });
    await products().update({ id: q.id }, { price: 9301 });
    expect((await pushes(s, 2)).map((x) => x.room)).toEqual([`shop.Product:${p.id}`, qRoom]);
    s.frames.length = 0;

    expect(await ok(s, 'shop.Product.unsubscribe', { id: p.id })).toEqual({ room: `shop.Product:${p.id}` });
    await products().update({ id: p.id }, { price: 9102 }); // now through the filter room
    expect((await pushes(s, 1)).map((x) => x.room)).toEqual([filterRoom]);
    s.frames.length = 0;

    expect(await ok(s, 'shop.Product.unsubscribe', { filter: { price: { lt: 9200, gte: 9100 } } })).toEqual({ room: filterRoom });
    expect(await ok(s, 'shop.Product.unsubscribe', { room: qRoom })).toEqual({ room: qRoom });
    await products().update({ id: p.id }, { price: 9103 });
    await products().update({ id: q.id }, { price: 9302 });
    expect(await pushes(s, 0)).toEqual([]);
  });

  it('unsubscribe of a room of another model is bad_request', async () => {
    const s = await open();
    const reply = await s.request('shop.Product.unsubscribe', { room: 'app.Note' });
    expect(reply.error.code).toBe('bad_request');
  });

  it('a closed socket leaves its rooms', async () => {
    const s = await open();
    const p = await product();
    const { room } = await ok(s, 'shop.Product.subscribe', { id: p.id });
    const service = t.app.get(BindingsService);
    expect(service.rooms()).toContainEqual({ room, subscribers: 1 });
    s.close();
    await settle(80);
    expect(service.rooms().find((r) => r.room === room)).toBeUndefined();
  });
});

describe('replay with since', () => {
  it('a reconnecting client gets what it missed, before the reply, then recovered: true', async () => {
    const p = await product({ price: 1 });
    const a = await open();
    const { room } = await ok(a, 'shop.Product.subscribe', { id: p.id });
    await products().update({ id: p.id }, { price: 2 });
    await products().update({ id: p.id }, { price: 3 });
    const seen = await pushes(a, 2);
    const last = seen[seen.length - 1].seq;
    expect(last).toBe(2);
    a.close();
    await settle(50);

    await products().update({ id: p.id }, { price: 4 });
    await products().update({ id: p.id }, { price: 5 });
    await settle(50);

    const b = await open();
    const reply = await b.request('shop.Product.subscribe', { id: p.id, since: last });
    expect(reply.data).toEqual({ room, seq: 4, recovered: true });
    const replyIndex = b.frames.indexOf(reply);
    const replayed = b.pushes();
    expect(replayed.map((x) => [x.seq, x.data.price])).toEqual([
      [3, 4],
      [4, 5],
    ]);
    for (const push of replayed) expect(b.frames.indexOf(push)).toBeLessThan(replyIndex);

    // Live pushes continue the numbering.
    await products().update({ id: p.id }, { price: 6 });
    const after = await pushes(b, 3);
    expect(after[2]).toMatchObject({ seq: 5, data: { price: 6 } });
  });

  it('replays a filter room, including a change that left the filter', async () => {
    const filter = { price: { gte: 9500, lt: 9600 } };
    const a = await open();
    const { room } = await ok(a, 'shop.Product.subscribe', { filter });
    const p = await product({ price: 9500 });
    await pushes(a, 1);
    a.close();
    await settle(50);
    await products().update({ id: p.id }, { price: 1 });
    await settle(50);
    const b = await open();
    const reply = await b.request('shop.Product.subscribe', { filter, since: 1 });
    expect(reply.data).toEqual({ room, seq: 2, recovered: true });
    expect(b.pushes().map((x) => [x.seq, x.event, x.data.price])).toEqual([[2, 'shop.Product.updated', 1]]);
  });

  it('since equal to the last seq replays nothing and recovers', async () => {
    const p = await product();
    const a = await open();
    await ok(a, 'shop.Product.subscribe', { id: p.id });
    await products().update({ id: p.id }, { price: 77 });
    await pushes(a, 1);
    const b = await open();
    const reply = await b.request('shop.Product.subscribe', { id: p.id, since: 1 });
    expect(reply.data.recovered).toBe(true);
    expect(await pushes(b, 0)).toEqual([]);
  });

  it('since ahead of the room, or on a room nobody kept, is recovered: false', async () => {
    const p = await product();
    const s = await open();
    const never = await s.request('shop.Product.subscribe', { id: p.id, since: 3 });
    expect(never.data).toEqual({ room: `shop.Product:${p.id}`, seq: 0, recovered: false });
    const ahead = await s.request('shop.Product.subscribe', { filter: { price: 424242 }, since: 10 });
    expect(ahead.data.recovered).toBe(false);
  });

  it('a malformed since is bad_request', async () => {
    const s = await open();
    for (const since of [-1, 1.5, '3', null]) {
      const reply = await s.request('shop.Product.subscribe', { since });
      expect(reply.error?.code).toBe('bad_request');
    }
  });

  it('subscribe over REST is bad_request', async () => {
    const res = await http(t.http, 'POST', '/api/events', { event: 'shop.Product.subscribe', data: {} });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bad_request');
    const unsub = await http(t.http, 'POST', '/api/events', { event: 'shop.Product.unsubscribe', data: {} });
    expect(unsub.status).toBe(400);
  });
});

describe('a small replay buffer', () => {
  let small: TestApp;
  beforeAll(async () => {
    small = await startApp([Product, Category, NoteEntity], { replay: { size: 2 } });
  });
  afterAll(() => small.close());

  it('since beyond the buffer is recovered: false and replays nothing; within it is recovered: true', async () => {
    const p = await product({}, small);
    const a = await open(small.ws);
    const { room } = await ok(a, 'shop.Product.subscribe', { id: p.id });
    for (const price of [1, 2, 3, 4, 5]) await small.dataSource.getRepository(Product).update({ id: p.id }, { price });
    await pushes(a, 5);
    a.close();

    const lost = await open(small.ws);
    const reply = await lost.request('shop.Product.subscribe', { id: p.id, since: 1 });
    expect(reply.data).toEqual({ room, seq: 5, recovered: false });
    expect(lost.pushes()).toEqual([]);

    const fine = await open(small.ws);
    const again = await fine.request('shop.Product.subscribe', { id: p.id, since: 3 });
    expect(again.data).toEqual({ room, seq: 5, recovered: true });
    expect(fine.pushes().map((x) => x.seq)).toEqual([4, 5]);
  });
});

describe('subscriptions per socket', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await startApp([Product, Category, NoteEntity], { limits: { subscriptionsPerSocket: 3 } });
  });
  afterAll(() => limited.close());

  it('an explicit subscribe over the limit is bad_request; the others keep working', async () => {
    const s = await open(limited.ws);
    const rows = await Promise.all([1, 2, 3, 4].map(() => product({}, limited)));
    for (const row of rows.slice(0, 3)) await ok(s, 'shop.Product.subscribe', { id: row.id });
    const over = await s.request('shop.Product.subscribe', { id: rows[3].id });
    expect(over.error.code).toBe('bad_request');
    const filterOver = await s.request('shop.Product.subscribe', { filter: { price: 1 } });
    expect(filterOver.error.code).toBe('bad_request');
    // Subscribing again to a room already held is not a new subscription.
    await ok(s, 'shop.Product.subscribe', { id: rows[0].id });
    // A retrieve at the limit still answers (it just cannot auto-subscribe).
    expect((await ok(s, 'shop.Product.retrieve', { id: rows[3].id })).id).toBe(rows[3].id);

    for (const row of rows) await limited.dataSource.getRepository(Product).update({ id: row.id }, { price: 55 });
    const got = await pushes(s, 3);
    expect(got.map((x) => x.data.id).sort()).toEqual(
      rows
        .slice(0, 3)
        .map((r) => r.id)
        .sort(),
    );

    // Unsubscribing frees a slot.
    await ok(s, 'shop.Product.unsubscribe', { id: rows[0].id });
    await ok(s, 'shop.Product.subscribe', { id: rows[3].id });
  });

  it('auto-subscriptions beyond the limit drop the least recently used auto one, never an explicit one', async () => {
    const s = await open(limited.ws);
    const rows = await Promise.all([1, 2, 3, 4, 5].map(() => product({}, limited)));
    const [explicit, ...auto] = rows;
    await ok(s, 'shop.Product.subscribe', { id: explicit.id });
    for (const row of auto) await ok(s, 'shop.Product.retrieve', { id: row.id }); // never fails
    // Slots: explicit + the two most recent autos (auto[2], auto[3]).
    for (const row of rows) await limited.dataSource.getRepository(Product).update({ id: row.id }, { price: 66 });
    const got = await pushes(s, 3);
    expect(got.map((x) => x.data.id).sort()).toEqual([explicit.id, auto[2].id, auto[3].id].sort());

    // A retrieve refreshes an auto-subscription: auto[2] becomes the most recently used.
    s.frames.length = 0;
    await ok(s, 'shop.Product.retrieve', { id: auto[2].id });
    await ok(s, 'shop.Product.retrieve', { id: auto[0].id }); // drops auto[3]
    for (const row of rows) await limited.dataSource.getRepository(Product).update({ id: row.id }, { price: 67 });
    const again = await pushes(s, 3);
    expect(again.map((x) => x.data.id).sort()).toEqual([explicit.id, auto[0].id, auto[2].id].sort());
  });

  it('an explicit subscribe takes the slot of an auto-subscription', async () => {
    const s = await open(limited.ws);
    const rows = await Promise.all([1, 2, 3, 4].map(() => product({}, limited)));
    for (const row of rows.slice(0, 3)) await ok(s, 'shop.Product.retrieve', { id: row.id });
    await ok(s, 'shop.Product.subscribe', { id: rows[3].id });
    // Subscribing explicitly to an auto-subscribed room makes it explicit.
    await ok(s, 'shop.Product.subscribe', { id: rows[1].id });
    await ok(s, 'shop.Product.subscribe', { id: rows[2].id });
    const over = await s.request('shop.Product.subscribe', { filter: { price: 5 } });
    expect(over.error.code).toBe('bad_request');
  });
});

describe('BindingsService', () => {
  it('broadcast reaches the sockets of the room only', async () => {
    const service = t.app.get(BindingsService);
    const [a, b, outsider] = [await open(), await open(), await open()];
    const p = await product();
    const { room } = await ok(a, 'shop.Product.subscribe', { id: p.id });
    await ok(b, 'shop.Product.subscribe', { id: p.id });
    await ok(outsider, 'shop.Product.subscribe', { filter: { price: 31337 } });
    expect(service.broadcast(room, 'shop.Product.announcement', { text: 'hi' })).toBe(2);
    const frame = { event: 'shop.Product.announcement', room, data: { text: 'hi' } };
    expect(await a.waitFor((f) => f.event === 'shop.Product.announcement')).toEqual(frame);
    expect(await b.waitFor((f) => f.event === 'shop.Product.announcement')).toEqual(frame);
    await settle(50);
    expect(outsider.frames.some((f) => f.event === 'shop.Product.announcement')).toBe(false);
    expect(service.broadcast('shop.Product:nobody-here', 'x', {})).toBe(0);
  });

  it('send reaches one socket', async () => {
    const [a, b] = [await open(), await open()];
    expect(await ok(a, 'test.greet', { name: 'ann' })).toEqual({ sent: true });
    expect(await a.waitFor((f) => f.event === 'test.greeting')).toEqual({ event: 'test.greeting', data: { hello: 'ann' } });
    await settle(50);
    expect(b.frames).toEqual([]);
    const service = t.app.get(BindingsService);
    expect(service.send({} as any, 'x', {})).toBe(false);
  });

  it('rooms lists occupied rooms with their subscriber counts', async () => {
    const service = t.app.get(BindingsService);
    const [a, b] = [await open(), await open()];
    const p = await product();
    const { room } = await ok(a, 'shop.Product.subscribe', { id: p.id });
    await ok(b, 'shop.Product.retrieve', { id: p.id });
    expect(service.rooms()).toContainEqual({ room, subscribers: 2 });
    await ok(a, 'shop.Product.unsubscribe', { id: p.id });
    expect(service.rooms()).toContainEqual({ room, subscribers: 1 });
  });

  it('presence does not list anonymous users', async () => {
    const service = t.app.get(BindingsService);
    const s = await open();
    const p = await product();
    const { room } = await ok(s, 'shop.Product.subscribe', { id: p.id });
    expect(service.rooms()).toContainEqual({ room, subscribers: 1 });
    expect(service.presence(room)).toEqual([]);
    expect(service.presence('no.such.room')).toEqual([]);
  });

  it('presence lists identified users once', async () => {
    const authed = await startApp([Product, Category, NoteEntity], { authenticate: () => ({ id: 7 }) });
    try {
      const service = authed.app.get(BindingsService);
      const [a, b] = [await open(authed.ws), await open(authed.ws)];
      const p = await product({}, authed);
      const { room } = await ok(a, 'shop.Product.subscribe', { id: p.id });
      await ok(b, 'shop.Product.subscribe', { id: p.id });
      expect(service.presence(room)).toEqual(['7']);
    } finally {
      await authed.close();
    }
  });
});
