import { IsBoolean, IsOptional, IsString } from 'class-validator';
import type { ServerResponse } from 'node:http';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Binding } from '../../lib/index.js';
import { RoomHub } from '../../lib/rooms/room-hub.js';
import { SseStream, sseEvent } from '../../lib/transports/http/sse-stream.js';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { http, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { SseReader } from '../fixtures/sse-reader.js';

/**
 * PROTOCOL.md section 5, Server-Sent Events: `GET /api/<app>/<Model>/events?id=|filter=`
 * streams the pushes of one room; each push is one event (`id` = seq, `event` = the push's
 * event, `data` = the push frame); `Last-Event-ID` resumes through the replay buffer; a
 * comment line is a heartbeat; authenticate, scope and can apply as to a WebSocket subscriber.
 */

interface TestUser {
  id: number;
  tenant: string;
  admin?: boolean;
}

/** Scoped by tenant; a `private` memo may only be retrieved (and so streamed) by an admin. */
@Binding<Memo>({
  app: 'sse',
  scope: (user: TestUser | null) => ({ tenant: user?.tenant ?? '-' }),
  can: { retrieve: (user: TestUser, memo) => !memo.private || user.admin === true },
})
@Entity()
class Memo {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() title: string;
  @Column() @IsString() tenant: string;
  @Column({ default: false }) @IsOptional() @IsBoolean() private: boolean;
}

const acme: TestUser = { id: 1, tenant: 'acme' };
const acmeAdmin: TestUser = { id: 2, tenant: 'acme', admin: true };
const globex: TestUser = { id: 3, tenant: 'globex', admin: true };
const as = (user: TestUser) => ({ 'x-user': JSON.stringify(user) });

let t: TestApp;
let n = 0;
const readers: SseReader[] = [];
beforeAll(async () => {
  t = await startApp([Product, Category, NoteEntity, Memo], {
    sse: { heartbeat: 40 },
    authenticate: (req) => (typeof req.headers['x-user'] === 'string' ? JSON.parse(req.headers['x-user']) : null),
    limits: { connectionsPerUser: 3 },
  });
});
afterEach(() => {
  for (const reader of readers.splice(0)) reader.close();
});
afterAll(() => t.close());

async function stream(path: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const reader = await SseReader.open(`${t.http}/api${path}`, headers);
  readers.push(reader);
  return reader;
}
async function refused(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const error = await SseReader.open(`${t.http}/api${path}`, headers).then(
    (r) => (readers.push(r), undefined),
    (e) => e,
  );
  if (!error) throw new Error(`${path} was streamed`);
  return { status: error.status, body: error.body };
}
const products = () => t.dataSource.getRepository(Product);
const newProduct = (price = 1) => products().save(products().create({ name: `sse-${++n}`, price }));

describe('streaming', () => {
  it('streams the model room: headers, the starting id, then each push as id/event/data', async () => {
    const before = await newProduct();
    await products().update(before.id, { price: 2 }); // no subscriber yet: no room, no seq
    const s = await stream('/shop/Product/events');
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(s.headers.get('cache-control')).toBe('no-cache, no-transform');
    // The first block names the room and sets the browser's lastEventId to the room's seq.
    await s.waitFor(() => s.blocks.length >= 1);
    expect(s.blocks[0]).toEqual({ comments: ['shop.Product'], id: expect.stringMatching(/^\d+$/) });
    const start = Number(s.blocks[0].id);

    const created = await http(t.http, 'POST', '/api/shop/Product', { name: `sse-${++n}`, price: 3 });
    await products().update(created.body.id, { price: 4 });
    const [first, second] = await s.waitFor(() => s.events().length >= 2 && s.events());
    expect(first).toMatchObject({ id: String(start + 1), event: 'shop.Product.created' });
    expect(first.frame).toEqual({ event: 'shop.Product.created', room: 'shop.Product', seq: start + 1, change: expect.any(String), data: created.body });
    expect(second).toMatchObject({
      id: String(start + 2),
      event: 'shop.Product.updated',
      frame: { seq: start + 2, changes: ['price', 'version'], data: { price: 4 } },
    });
    expect(first.frame.change).not.toBe(second.frame.change);
  });

  it('streams one object with ?id= and a filter room with ?filter=; other rows do not come', async () => {
    const a = await newProduct(10);
    const b = await newProduct(20);
    const one = await stream(`/shop/Product/events?id=${a.id}`);
    const filtered = await stream(`/shop/Product/events?filter=${encodeURIComponent(JSON.stringify({ price: { gte: 1000 } }))}`);
    await one.waitFor(() => one.blocks.length && filtered.blocks.length);
    expect(one.blocks[0].comments).toEqual([`shop.Product:${a.id}`]);
    expect(filtered.blocks[0].comments[0]).toMatch(/^shop\.Product\?/);
    await products().update(b.id, { price: 21 });
    await products().update(a.id, { price: 1500 });
    await products().update(b.id, { price: 2000 });
    const onlyA = await one.waitFor(() => one.events().length >= 1 && one.events());
    expect(onlyA.map((e) => [e.id, e.frame.data.id, e.frame.data.price])).toEqual([['1', a.id, 1500]]);
    const inFilter = await filtered.waitFor(() => filtered.events().length >= 2 && filtered.events());
    expect(inFilter.map((e) => [e.id, e.frame.data.id])).toEqual([
      ['1', a.id],
      ['2', b.id],
    ]);
  });

  it('sends a heartbeat comment on an idle stream', async () => {
    const s = await stream('/sse/Memo/events', as(acme));
    await s.waitFor(() => s.blocks.some((b) => b.comments.includes('heartbeat')), 1000);
    const heartbeats = s.blocks.filter((b) => b.comments.includes('heartbeat'));
    expect(heartbeats[0]).toEqual({ comments: ['heartbeat'] });
  });

  it('leaves the room when the client goes away', async () => {
    const p = await newProduct();
    const room = `shop.Product:${p.id}`;
    const hub = t.app.get(RoomHub);
    const s = await stream(`/shop/Product/events?id=${p.id}`);
    await s.waitFor(() => s.blocks.length >= 1);
    expect(hub.members(room).size).toBe(1);
    s.close();
    const end = Date.now() + 2000;
    while (hub.members(room).size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(hub.members(room).size).toBe(0);
  });

  it('the events route does not shadow retrieve: GET /:id still answers the object', async () => {
    const p = await newProduct();
    expect((await http(t.http, 'GET', `/api/shop/Product/${p.id}`)).body).toMatchObject({ id: p.id });
  });
});

describe('resuming with Last-Event-ID', () => {
  it('replays what was missed after that seq first, then goes on live; the query form lastEventId works too', async () => {
    const p = await newProduct(1);
    const first = await stream(`/shop/Product/events?id=${p.id}`);
    await products().update(p.id, { price: 2 });
    await first.waitFor(() => first.events().length === 1);
    first.close();
    await products().update(p.id, { price: 3 });
    await products().update(p.id, { price: 4 });

    const resumed = await stream(`/shop/Product/events?id=${p.id}`, { 'last-event-id': '1' });
    await resumed.waitFor(() => resumed.events().length >= 2);
    await products().update(p.id, { price: 5 });
    const events = await resumed.waitFor(() => resumed.events().length >= 3 && resumed.events());
    expect(events.map((e) => [e.id, e.frame.data.price])).toEqual([
      ['2', 3],
      ['3', 4],
      ['4', 5],
    ]);
    expect(resumed.blocks.some((b) => b.event === 'resync')).toBe(false);

    const query = await stream(`/shop/Product/events?id=${p.id}&lastEventId=3`);
    const replayed = await query.waitFor(() => query.events().length >= 1 && query.events());
    expect(replayed.map((e) => e.id)).toEqual(['4']);
  });

  it('answers event: resync when the seq cannot be resumed from; malformed ids are 400', async () => {
    const p = await newProduct(1);
    const ahead = await stream(`/shop/Product/events?id=${p.id}`, { 'last-event-id': '99' });
    const resync = await ahead.waitFor(() => ahead.blocks.find((b) => b.event === 'resync'));
    expect(resync).toEqual({ comments: [], id: '0', event: 'resync', data: JSON.stringify({ room: `shop.Product:${p.id}`, recovered: false }) });
    for (const bad of ['-1', 'x', '1.5']) {
      const answer = await refused(`/shop/Product/events?id=${p.id}`, { 'last-event-id': bad });
      expect([answer.status, answer.body.error.code]).toEqual([400, 'bad_request']);
    }
  });
});

describe('who may stream what', () => {
  it('answers errors as JSON before the stream starts', async () => {
    const cases: Array<[string, Record<string, string>, number, string]> = [
      ['/shop/Nothing/events', {}, 404, 'unknown_event'],
      ['/shop/Product/events?id=424242', {}, 404, 'not_found'],
      ['/shop/Product/events?filter=%7Bnot', {}, 400, 'bad_request'],
      ['/shop/Product/events?filter=%7B%22nope%22%3A1%7D', {}, 400, 'bad_request'],
      ['/shop/Product/events?id=1&filter=%7B%7D', {}, 400, 'bad_request'],
      ['/shop/Product/events?id=1&id=2', {}, 400, 'bad_request'],
    ];
    for (const [path, headers, status, code] of cases) {
      const answer = await refused(path, headers);
      expect([path, answer.status, answer.body.error.code]).toEqual([path, status, code]);
    }
  });

  it('applies scope and can.retrieve as to a WebSocket subscriber: not_found outside the scope, forbidden when can refuses', async () => {
    const memos = t.dataSource.getRepository(Memo);
    const ours = await memos.save({ title: 'ours', tenant: 'acme' });
    const theirs = await memos.save({ title: 'theirs', tenant: 'globex' });
    const hidden = await memos.save({ title: 'hidden', tenant: 'acme', private: true });
    expect((await refused(`/sse/Memo/events?id=${theirs.id}`, as(acme))).status).toBe(404);
    expect((await refused(`/sse/Memo/events?id=${hidden.id}`, as(acme))).body.error).toEqual({ code: 'forbidden', message: 'Not allowed to retrieve Memo' });
    // The same answers as a WebSocket subscribe.
    const socket = await TestSocket.open(t.ws, as(acme));
    expect((await socket.request('sse.Memo.subscribe', { id: theirs.id })).error.code).toBe('not_found');
    expect((await socket.request('sse.Memo.subscribe', { id: hidden.id })).error.code).toBe('forbidden');
    socket.close();

    // The model room streams only what each subscriber may retrieve.
    const member = await stream('/sse/Memo/events', as(acme));
    const admin = await stream('/sse/Memo/events', as(acmeAdmin));
    const other = await stream('/sse/Memo/events', as(globex));
    await member.waitFor(() => member.blocks.length && admin.blocks.length && other.blocks.length);
    await memos.update(theirs.id, { title: 'theirs 2' });
    await memos.update(hidden.id, { title: 'hidden 2' });
    await memos.update(ours.id, { title: 'ours 2' });
    const titles = async (s: SseReader, count: number) => (await s.waitFor(() => s.events().length >= count && s.events())).map((e) => e.frame.data.title);
    expect(await titles(member, 1)).toEqual(['ours 2']);
    expect(await titles(admin, 2)).toEqual(['hidden 2', 'ours 2']);
    expect(await titles(other, 1)).toEqual(['theirs 2']);
    expect(member.events().length).toBe(1);
  });

  it('ends open streams when the application closes', async () => {
    const other = await startApp([Product, Category, NoteEntity]);
    const s = await SseReader.open(`${other.http}/api/shop/Product/events`);
    await s.waitFor(() => s.blocks.length >= 1);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(2000);
    await s.waitFor(() => s.ended, 1000).catch(() => undefined);
    expect(s.ended).toBe(true);
  });

  it("refuses anonymous callers when anonymous is false, and a user's streams beyond connectionsPerUser (429)", async () => {
    const closed = await startApp([Product, Category, NoteEntity], { anonymous: false, authenticate: () => null });
    try {
      const res = await fetch(`${closed.http}/api/shop/Product/events`);
      expect([res.status, (await res.json()).error.code]).toEqual([401, 'unauthorized']);
    } finally {
      await closed.close();
    }
    const user: TestUser = { id: 99, tenant: 'acme' };
    for (let i = 0; i < 3; i++) await stream('/sse/Memo/events', as(user));
    expect((await refused('/sse/Memo/events', as(user))).status).toBe(429);
  });
});

describe('SseStream', () => {
  /** A response that never drains: writableLength grows with every write. */
  function fakeResponse() {
    const res = {
      writableLength: 0,
      destroyed: false,
      chunks: [] as string[],
      head: undefined as unknown,
      writeHead(status: number, headers: unknown) {
        this.head = [status, headers];
      },
      write(chunk: string) {
        this.chunks.push(chunk);
        this.writableLength += chunk.length;
        return false;
      },
      end() {},
      destroy() {
        this.destroyed = true;
      },
    };
    return res;
  }
  const frame = (seq: number) => `{"event":"shop.Product.updated","room":"shop.Product","seq":${seq},"change":"c${seq}","data":{"id":1}}`;

  it('holds what comes before start() in order, then writes id/event/data blocks', () => {
    const res = fakeResponse();
    const s = new SseStream(null, res as unknown as ServerResponse, 'event', 1 << 20);
    s.joined('shop.Product', 4);
    s.send(frame(5));
    expect(res.chunks).toEqual([]);
    s.start();
    expect(res.head).toEqual([200, expect.objectContaining({ 'content-type': 'text/event-stream; charset=utf-8' })]);
    expect(res.chunks).toEqual([': shop.Product\nid: 4\n\n', `id: 5\nevent: shop.Product.updated\ndata: ${frame(5)}\n\n`]);
  });

  it('drops a client that does not read once sendBuffer bytes wait, as a WebSocket is closed', () => {
    const res = fakeResponse();
    const s = new SseStream(null, res as unknown as ServerResponse, 'event', 300);
    s.start();
    for (let seq = 1; seq <= 10; seq++) s.send(frame(seq));
    expect(res.destroyed).toBe(true);
    expect(res.chunks.length).toBeLessThan(5);
    expect(s.closed).toBe(true);
  });

  it('names events with the configured event key and keeps line breaks out of fields', () => {
    expect(sseEvent('{"type":"a.b.created","room":"r","seq":2,"payload":{}}', 'type')).toBe(
      'id: 2\nevent: a.b.created\ndata: {"type":"a.b.created","room":"r","seq":2,"payload":{}}\n\n',
    );
    expect(sseEvent('{"event":"x\\ny","room":"r","data":1}', 'event')).toBe('event: x y\ndata: {"event":"x\\ny","room":"r","data":1}\n\n');
  });
});
