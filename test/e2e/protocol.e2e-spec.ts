import { WsTransport } from '../../lib/transports/ws/ws-transport.js';
import { Injectable } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { BindingsModule, BindingsService, OnStream } from '../../lib/index.js';
import { createTestDatabase } from '../fixtures/database.js';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { createApp, http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

/** PROTOCOL.md section 2: the wire format, its errors, and the limits that guard it. */

/** Echoes its data, to see what the server does with odd data in a custom event. */
@Injectable()
class Echo {
  @OnStream('test.echo')
  echo(data: unknown, ctx: { id?: string | number }) {
    return { data: data ?? null, id: ctx.id ?? null };
  }
}

const entities = [Product, Category, NoteEntity];
let t: TestApp;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  t = await startApp(entities, {}, { providers: [Echo] });
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

/** Sends raw text and resolves with the next frame the server sends back. */
async function rawReply(s: TestSocket, text: string | Buffer, options?: { binary?: boolean }): Promise<any> {
  const before = s.frames.length;
  s.socket.send(text, { binary: options?.binary ?? false });
  return s.waitFor((f) => s.frames.indexOf(f) >= before);
}

let probeNo = 0;

/** The socket still serves a valid request (with an id no earlier frame of the test used). */
async function stillServes(s: TestSocket): Promise<void> {
  const id = `alive-${++probeNo}`;
  const reply = await rawReply(s, JSON.stringify({ event: 'shop.Product.list', id, data: { limit: 1 } }));
  expect(reply).toEqual({ event: 'shop.Product.list', id, data: expect.objectContaining({ page: 1, limit: 1 }) });
  expect(s.socket.readyState).toBe(WebSocket.OPEN);
}

/** How an upgrade to `url` ends: 'open', 'refused' (HTTP error or reset) or 'hangs' (no answer). */
function upgradeOutcome(url: string, wait = 1000): Promise<'open' | 'refused' | 'hangs'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const done = (outcome: 'open' | 'refused' | 'hangs') => {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('hangs'), wait);
    ws.once('open', () => done('open'));
    ws.once('unexpected-response', () => done('refused'));
    ws.once('error', () => done('refused'));
  });
}

describe('requests and replies', () => {
  it('a reply echoes the event and a number id', async () => {
    const s = await open();
    const p = await t.dataSource.getRepository(Product).save({ name: 'echo-1', price: 1 });
    const reply = await rawReply(s, JSON.stringify({ event: 'shop.Product.retrieve', id: 41, data: { id: p.id } }));
    expect(reply).toEqual({ event: 'shop.Product.retrieve', id: 41, data: expect.objectContaining({ id: p.id, name: 'echo-1' }) });
    expect(reply).not.toHaveProperty('error');
  });

  it('a reply echoes a string id verbatim, also on errors', async () => {
    const s = await open();
    const ok = await rawReply(s, JSON.stringify({ event: 'ping', id: 'abc-7', data: 1 }));
    expect(ok).toEqual({ event: 'pong', id: 'abc-7', data: 1 });
    const err = await rawReply(s, JSON.stringify({ event: 'shop.Product.retrieve', id: 'req-9', data: { id: 999999 } }));
    expect(err).toEqual({ event: 'shop.Product.retrieve', id: 'req-9', error: { code: 'not_found', message: expect.any(String) } });
    const zero = await rawReply(s, JSON.stringify({ event: 'ping', id: 0 }));
    expect(zero).toEqual({ event: 'pong', id: 0, data: null });
    const empty = await rawReply(s, JSON.stringify({ event: 'ping', id: '' }));
    expect(empty).toEqual({ event: 'pong', id: '', data: null });
  });

  it('a request without id gets a reply without id', async () => {
    const s = await open();
    const reply = await rawReply(s, JSON.stringify({ event: 'shop.Product.list', data: {} }));
    expect(reply.event).toBe('shop.Product.list');
    expect(reply).not.toHaveProperty('id');
    expect(reply.data).toMatchObject({ page: 1, limit: 25 });
    const error = await rawReply(s, JSON.stringify({ event: 'no.such.event' }));
    expect(error).toEqual({ event: 'no.such.event', error: { code: 'unknown_event', message: expect.any(String) } });
  });

  it('ping is answered by pong with the same data and id', async () => {
    const s = await open();
    for (const data of [{ a: [1, 'two', null] }, 'text', 12.5, true, [1, 2]]) {
      const reply = await s.request('ping', data);
      expect(reply).toEqual({ event: 'pong', id: expect.any(Number), data });
    }
    const none = await rawReply(s, JSON.stringify({ event: 'ping', id: 5 }));
    expect(none).toEqual({ event: 'pong', id: 5, data: null });
  });

  it('the handler sees the request id as ctx.id', async () => {
    const s = await open();
    const reply = await rawReply(s, JSON.stringify({ event: 'test.echo', id: 'x1', data: { a: 1 } }));
    expect(reply).toEqual({ event: 'test.echo', id: 'x1', data: { data: { a: 1 }, id: 'x1' } });
  });

  it('each of many concurrent requests gets exactly one reply', async () => {
    const s = await open();
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => s.request('ping', i)));
    expect(replies.map((r) => r.data)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    await settle(50);
    expect(s.frames).toHaveLength(30);
  });
});

describe('bad frames', () => {
  it('invalid JSON is bad_request and the socket stays usable', async () => {
    const s = await open();
    for (const text of ['{', 'not json', '{"event": "ping",}', '']) {
      const reply = await rawReply(s, text);
      expect(reply.error).toEqual({ code: 'bad_request', message: expect.any(String) });
      expect(typeof reply.event).toBe('string');
    }
    await stillServes(s);
  });

  it('frames that are not objects are bad_request', async () => {
    const s = await open();
    for (const text of ['[]', '[{"event":"ping"}]', '42', '"ping"', 'null', 'true']) {
      const reply = await rawReply(s, text);
      expect(reply.error.code).toBe('bad_request');
    }
    await stillServes(s);
  });

  it('a missing, empty or non-string event is bad_request, with the id when readable', async () => {
    const s = await open();
    const frames = [{ id: 1 }, { event: '', id: 2 }, { event: 7, id: 3 }, { event: null, id: 4 }, { event: ['ping'], id: 5 }, { event: { a: 1 }, id: 6 }];
    for (const frame of frames) {
      const reply = await rawReply(s, JSON.stringify(frame));
      expect(reply.error.code).toBe('bad_request');
      expect(reply.id).toBe(frame.id);
    }
    await stillServes(s);
  });

  it('an id that is neither a string nor a number is bad_request', async () => {
    const s = await open();
    for (const id of [{ a: 1 }, [1], true, null]) {
      const reply = await rawReply(s, JSON.stringify({ event: 'ping', id }));
      expect(reply.error.code).toBe('bad_request');
      expect(reply).not.toHaveProperty('data');
    }
    await stillServes(s);
  });

  it('a binary frame is bad_request', async () => {
    const s = await open();
    const reply = await rawReply(s, Buffer.from(JSON.stringify({ event: 'ping', id: 1 })), { binary: true });
    expect(reply.error.code).toBe('bad_request');
    await stillServes(s);
  });

  it('data missing or of the wrong shape where an object is needed is bad_request', async () => {
    const s = await open();
    for (const [event, data] of [
      ['shop.Product.retrieve', undefined],
      ['shop.Product.retrieve', null],
      ['shop.Product.retrieve', [1]],
      ['shop.Product.retrieve', 'x'],
      ['shop.Product.create', undefined],
      ['shop.Product.update', undefined],
      ['shop.Product.delete', undefined],
      ['shop.Product.list', 5],
      ['shop.Product.subscribe', 'all'],
    ] as const) {
      const reply = await s.request(event, data);
      expect({ event, code: reply.error?.code }).toEqual({ event, code: 'bad_request' });
      expect(reply.event).toBe(event);
    }
    await stillServes(s);
  });

  it('an unknown event is unknown_event', async () => {
    const s = await open();
    expect((await s.request('shop.Product.frobnicate', {})).error.code).toBe('unknown_event');
    expect((await s.request('shop.Nothing.list', {})).error.code).toBe('unknown_event');
    expect((await s.request('app.Hidden.list', {})).error.code).toBe('unknown_event');
  });

  it('garbage of many shapes gets well-formed error replies and the server keeps serving', async () => {
    const s = await open();
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const deepObject = '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000);
    const deepAnd = '{"$and":['.repeat(30_000) + '{"price":1}' + ']}'.repeat(30_000);
    const garbage: string[] = [
      '1e400',
      '{"event": "ping", "id": 1e400}',
      '{"event": "ping", "id": -0.0000001e-400, "data": 1}',
      '{"event": "ping", "id": 123456789012345678901234567890}',
      `{"event": "shop.Product.retrieve", "id": 1, "data": {"id": 1e400}}`,
      `{"event": "shop.Product.retrieve", "id": 2, "data": {"id": 123456789012345678901234567890}}`,
      deep,
      `{"event": "shop.Product.list", "id": 3, "data": {"filter": ${deep}}}`,
      `{"event": "shop.Product.list", "id": 4, "data": {"filter": ${deepObject}}}`,
      `{"event": "shop.Product.list", "id": 31, "data": {"filter": ${deepAnd}}}`,
      `{"event": "shop.Product.subscribe", "id": 32, "data": {"filter": ${deepAnd}}}`,
      `{"event": "shop.Product.search", "id": 33, "data": {"q": ${deep}}}`,
      `{"event": "ping", "id": 5, "data": ${deep}}`,
      `{"event": "test.echo", "id": 6, "data": ${deepObject}}`,
      `{"event": "shop.Product.create", "id": 7, "data": {"name": ${deep}, "price": 1}}`,
      '{"__proto__": {"event": "ping"}, "id": 8}',
      '{"event": "shop.Product.create", "id": 9, "data": {"__proto__": {"admin": true}, "name": "proto", "price": 1}}',
      '{"event": "shop.Product.list", "id": 10, "data": {"filter": {"__proto__": {"status": "open"}}}}',
      '{"event": "shop.Product.list", "id": 11, "data": {"filter": {"constructor": {"eq": 1}}}}',
      `{"event": "${'x'.repeat(100_000)}", "id": 12}`,
      `{"event": "shop.Product.retrieve", "id": "${'i'.repeat(100_000)}", "data": {"id": 1}}`,
      '{"event": "shop.Product.list", "id": 13, "data": {"page": 1e308, "limit": 1e308}}',
      '{"event": "shop.Product.list", "id": 14, "data": {"order": {"price": "SIDEWAYS"}}}',
      '{"event": "shop.Product.list", "id": 15, "data": {"filter": {"price": {"in": {"length": 1e9}}}}}',
      '\u0000\u0001\u0002',
      '{"event": "ping\\u0000", "id": 16}',
    ];
    for (const text of garbage) {
      const before = s.frames.length;
      s.sendRaw(text);
      const reply = await s.waitFor((f) => s.frames.indexOf(f) >= before, 3000).catch(() => undefined);
      const label = text.slice(0, 60);
      expect({ label, reply: reply === undefined ? 'no reply' : 'reply' }).toEqual({ label, reply: 'reply' });
      expect({ label, event: typeof reply.event }).toEqual({ label, event: 'string' });
      if (reply.error) {
        expect(Object.keys(reply.error).every((k) => ['code', 'message', 'details'].includes(k))).toBe(true);
        expect(typeof reply.error.message).toBe('string');
        expect(reply.error.message).not.toMatch(/SELECT|INSERT|SQLITE|at .*\.js|RangeError|TypeError/);
      }
    }
    expect(s.socket.readyState).toBe(WebSocket.OPEN);
    await stillServes(s);
    // The prototype of objects was not polluted along the way.
    expect(({} as any).admin).toBeUndefined();
    expect(({} as any).event).toBeUndefined();
    expect(({} as any).status).toBeUndefined();
    // A fresh socket works too: the server is alive.
    await stillServes(await open());
  });

  it("a __proto__ member is not taken as the frame's event", async () => {
    const s = await open();
    const reply = await rawReply(s, '{"__proto__": {"event": "ping"}, "id": 8}');
    expect(reply).toMatchObject({ id: 8, error: { code: 'bad_request' } });
  });
});

describe('limits', () => {
  it('a frame over limits.maxPayload closes the socket with 1009; smaller bad frames never close it', async () => {
    const small = await startApp(entities, { limits: { maxPayload: 1024 } });
    try {
      const s = await TestSocket.open(small.ws);
      const fits = await s.request('ping', 'x'.repeat(900));
      expect(fits.data).toHaveLength(900);
      expect((await rawReply(s, '{'.repeat(1000))).error.code).toBe('bad_request');
      const closed = new Promise<number>((resolve) => s.socket.once('close', (code) => resolve(code)));
      s.sendRaw(JSON.stringify({ event: 'ping', id: 1, data: 'x'.repeat(2000) }));
      expect(await closed).toBe(1009);
      // Other sockets are not affected.
      const other = await TestSocket.open(small.ws);
      expect((await other.request('ping', 1)).data).toBe(1);
      other.close();
    } finally {
      await small.close();
    }
  });

  it('over framesPerSecond/burst a frame gets rate_limited and the socket stays open', async () => {
    const limited = await startApp(entities, { limits: { framesPerSecond: 5, burst: 5 } });
    try {
      const s = await TestSocket.open(limited.ws);
      const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => s.request('ping', i)));
      expect(replies.slice(0, 5).map((r) => r.data)).toEqual([0, 1, 2, 3, 4]);
      expect(replies[5]).toEqual({ event: 'ping', id: expect.any(Number), error: { code: 'rate_limited', message: expect.any(String) } });
      expect(s.socket.readyState).toBe(WebSocket.OPEN);
      // The budget refills: after a short pause the socket is served again.
      await settle(450);
      expect((await s.request('ping', 'again')).data).toBe('again');
      // Another socket has its own budget; bad frames take from it too, so a flood of
      // garbage is limited like any other.
      const other = await TestSocket.open(limited.ws);
      expect((await other.request('ping', 1)).data).toBe(1);
      for (let i = 0; i < 5; i++) other.sendRaw(i === 4 ? JSON.stringify({ event: 7, id: 'last' }) : 'garbage');
      await other.waitFor(() => other.frames.length >= 6);
      expect(other.frames.slice(1).map((f) => f.error?.code)).toEqual(['bad_request', 'bad_request', 'bad_request', 'bad_request', 'rate_limited']);
      expect(other.frames[5].id).toBe('last');
      expect(other.socket.readyState).toBe(WebSocket.OPEN);
      s.close();
      other.close();
    } finally {
      await limited.close();
    }
  });
});

describe('WebSocket heartbeats', () => {
  /** A dead peer (no pongs) is dropped within a few beats; one that answers stays and is served. */
  async function dropsTheDeadKeepsTheLive(beat: TestApp): Promise<void> {
    const alive = await TestSocket.open(beat.ws);
    const dead = new WebSocket(beat.ws, { autoPong: false });
    await new Promise((resolve, reject) => dead.once('open', resolve).once('error', reject));
    let pings = 0;
    dead.on('ping', () => pings++);
    const closed = new Promise<void>((resolve) => dead.once('close', () => resolve()));
    await settle(450);
    await closed;
    expect(pings).toBeGreaterThanOrEqual(1);
    expect(dead.readyState).toBe(WebSocket.CLOSED);
    expect(alive.socket.readyState).toBe(WebSocket.OPEN);
    expect((await alive.request('ping', 'still here')).data).toBe('still here');
    alive.close();
  }

  /** The kinds of events a server-side socket listens to: their table doubles past three (about 96 bytes per socket). */
  const listenedKinds = (beat: TestApp) => [...beat.app.get(WsTransport).connections.keys()].map((ws) => ws.eventNames().length);

  it('drops a peer that stops answering pings and keeps one that answers', async () => {
    const beat = await startApp(entities, { heartbeatInterval: 100 });
    try {
      const idle = await TestSocket.open(beat.ws);
      await idle.request('shop.Product.subscribe', {});
      // Pongs are noted by the socket itself: message, close and error are all it listens to.
      expect(listenedKinds(beat)).toEqual([3]);
      idle.close();
      await dropsTheDeadKeepsTheLive(beat);
    } finally {
      await beat.close();
    }
  });

  it('does the same without the WsAdapter', async () => {
    const beat = await startApp(entities, { heartbeatInterval: 100 }, {}, false);
    try {
      await TestSocket.open(beat.ws).then((idle) => (expect(listenedKinds(beat)).toEqual([3]), idle.close()));
      await dropsTheDeadKeepsTheLive(beat);
    } finally {
      await beat.close();
    }
  });

  it("does the same when an adapter makes the server's sockets of another class (the WebSocket option dropped)", async () => {
    class PlainSocketsAdapter extends WsAdapter {
      create(port: number, options: any) {
        const { WebSocket: _dropped, ...rest } = options ?? {};
        return super.create(port, rest);
      }
    }
    const database = await createTestDatabase(entities);
    const moduleRef = await Test.createTestingModule({
      imports: [TypeOrmModule.forRoot({ ...database.options, retryAttempts: 0 }), BindingsModule.forRoot({ heartbeatInterval: 100 })],
    }).compile();
    const app = createApp(moduleRef, { logger: ['error'] });
    app.useWebSocketAdapter(new PlainSocketsAdapter(app));
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    try {
      await dropsTheDeadKeepsTheLive({ app, ws: `ws://127.0.0.1:${port}/ws` } as TestApp);
    } finally {
      await app.close();
      await database.drop();
    }
  });
});

describe('configurable frame keys', () => {
  it('serves {type, id, data} clients, pushes included', async () => {
    const rohrpost = await startApp(entities, { protocol: { eventKey: 'type' } });
    const keys = { event: 'type', id: 'id', data: 'data' };
    try {
      const s = await TestSocket.open(rohrpost.ws);
      const created = await s.request('shop.Product.create', { name: 'rohr', price: 3 }, keys);
      expect(created).toEqual({ type: 'shop.Product.create', id: expect.any(Number), data: expect.objectContaining({ name: 'rohr', price: 3 }) });
      expect(await s.request('ping', 'p', keys)).toEqual({ type: 'pong', id: expect.any(Number), data: 'p' });
      const failed = await s.request('shop.Product.retrieve', { id: 999999 }, keys);
      expect(failed).toEqual({ type: 'shop.Product.retrieve', id: expect.any(Number), error: expect.objectContaining({ code: 'not_found' }) });
      // A frame with `event` instead of `type` has no readable event.
      const wrongKey = await rawReply(s, JSON.stringify({ event: 'ping', id: 99 }));
      expect(wrongKey.error.code).toBe('bad_request');
      expect(wrongKey).not.toHaveProperty('event');

      const sub = await s.request('shop.Product.subscribe', { id: created.data.id }, keys);
      expect(sub.data).toEqual({ room: `shop.Product:${created.data.id}`, seq: 0 });
      await rohrpost.dataSource.getRepository(Product).update({ id: created.data.id }, { price: 4 });
      const push = await s.waitFor((f) => f.room !== undefined && f.seq !== undefined);
      expect(push).toEqual({
        type: 'shop.Product.updated',
        room: `shop.Product:${created.data.id}`,
        seq: 1,
        change: expect.any(String),
        data: expect.objectContaining({ price: 4 }),
        changes: ['price', 'version'],
      });
      expect(push).not.toHaveProperty('event');

      rohrpost.app.get(BindingsService).broadcast(sub.data.room, 'notice', { n: 1 });
      expect(await s.waitFor((f) => f.type === 'notice')).toEqual({ type: 'notice', room: sub.data.room, data: { n: 1 } });
      s.close();
    } finally {
      await rohrpost.close();
    }
  });

  it('serves {stream, payload} clients, pushes included', async () => {
    const demux = await startApp(entities, { protocol: { eventKey: 'stream', dataKey: 'payload' } });
    const keys = { event: 'stream', id: 'id', data: 'payload' };
    try {
      const s = await TestSocket.open(demux.ws);
      const created = await s.request('shop.Product.create', { name: 'demux', price: 3 }, keys);
      expect(created).toEqual({ stream: 'shop.Product.create', id: expect.any(Number), payload: expect.objectContaining({ name: 'demux', price: 3 }) });
      expect(created).not.toHaveProperty('data');
      expect(await s.request('ping', { x: 1 }, keys)).toEqual({ stream: 'pong', id: expect.any(Number), payload: { x: 1 } });
      // `data` is not the data member here: a create without `payload` has no fields.
      const noPayload = await rawReply(s, JSON.stringify({ stream: 'shop.Product.create', id: 77, data: { name: 'x', price: 1 } }));
      expect(noPayload).toMatchObject({ stream: 'shop.Product.create', id: 77, error: { code: 'bad_request' } });

      await s.request('shop.Product.subscribe', {}, keys);
      await demux.dataSource.getRepository(Product).delete(created.payload.id);
      const push = await s.waitFor((f) => f.room !== undefined && f.seq !== undefined);
      expect(push).toEqual({
        stream: 'shop.Product.deleted',
        room: 'shop.Product',
        seq: 1,
        change: expect.any(String),
        payload: expect.objectContaining({ id: created.payload.id, name: 'demux' }),
      });
      s.close();
    } finally {
      await demux.close();
    }
  });
});

describe('transport setup', () => {
  it('works without the WsAdapter and with another path', async () => {
    const plain = await startApp(entities, { path: '/realtime' }, {}, false);
    try {
      expect(plain.ws.endsWith('/realtime')).toBe(true);
      const s = await TestSocket.open(plain.ws);
      expect((await s.request('ping', 1)).data).toBe(1);
      // Without Nest's listener, the bindings' own keeps a socket's errors from ending the process.
      expect([...plain.app.get(WsTransport).connections.keys()].map((ws) => ws.listenerCount('error'))).toEqual([1]);
      const created = await s.request('shop.Product.create', { name: 'plain', price: 1 });
      expect(created.data.name).toBe('plain');
      await s.request('shop.Product.subscribe', {});
      await plain.dataSource.getRepository(Product).update({ id: created.data.id }, { price: 2 });
      expect(await s.waitFor((f) => f.event === 'shop.Product.updated')).toMatchObject({ room: 'shop.Product', seq: 1 });
      // Other paths are refused (not left hanging), and REST still answers.
      expect(await upgradeOutcome(plain.ws.replace('/realtime', '/ws'))).toBe('refused');
      expect(await upgradeOutcome(`${plain.ws}?token=abc`)).toBe('open');
      expect((await http(plain.http, 'GET', `/api/shop/Product/${created.data.id}`)).status).toBe(200);
      s.close();
    } finally {
      await plain.close();
    }
  });

  it("recognizes a subclass of Nest's WsAdapter (not by its name): sockets of the application's gateway and of the bindings both open", async () => {
    const created: string[] = [];
    class TracingWsAdapter extends WsAdapter {
      create(port: number, options: any) {
        created.push(options?.path);
        return super.create(port, options);
      }
    }
    @WebSocketGateway({ path: '/app-gateway' })
    class AppGateway {
      @SubscribeMessage('hello')
      hello() {
        return { event: 'hello', data: 'from the app' };
      }
    }
    const database = await createTestDatabase(entities);
    const moduleRef = await Test.createTestingModule({
      imports: [TypeOrmModule.forRoot({ ...database.options, retryAttempts: 0 }), BindingsModule.forRoot({})],
      providers: [AppGateway],
    }).compile();
    const app = createApp(moduleRef, { logger: ['error'] });
    app.useWebSocketAdapter(new TracingWsAdapter(app));
    await app.listen(0, '127.0.0.1');
    try {
      const { port } = app.getHttpServer().address() as AddressInfo;
      // Both servers were made by the application's adapter, which routes every upgrade by path:
      // a server of the bindings' own beside it would find its sockets destroyed by the adapter.
      expect(created.sort()).toEqual(['/app-gateway', '/ws']);
      const bindings = await TestSocket.open(`ws://127.0.0.1:${port}/ws`);
      expect((await bindings.request('ping', 'b')).data).toBe('b');
      bindings.close();
      const gateway = await TestSocket.open(`ws://127.0.0.1:${port}/app-gateway`);
      gateway.sendRaw(JSON.stringify({ event: 'hello', data: null }));
      expect(await gateway.waitFor((f) => f.event === 'hello')).toEqual({ event: 'hello', data: 'from the app' });
      gateway.close();
    } finally {
      await app.close();
      await database.drop();
    }
  });

  it("on Nest's WsAdapter, a socket's errors are still logged by the adapter, through one listener shared by every socket", async () => {
    const logged: unknown[] = [];
    const capture = { log() {}, warn() {}, debug() {}, verbose() {}, error: (message: unknown, ...rest: unknown[]) => void logged.push([message, ...rest]) };
    const database = await createTestDatabase(entities);
    const moduleRef = await Test.createTestingModule({
      imports: [TypeOrmModule.forRoot({ ...database.options, retryAttempts: 0 }), BindingsModule.forRoot({ limits: { maxPayload: 1024 } })],
    }).compile();
    const app = createApp(moduleRef, { logger: capture });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    try {
      const [a, b] = await Promise.all([TestSocket.open(`ws://127.0.0.1:${port}/ws`), TestSocket.open(`ws://127.0.0.1:${port}/ws`)]);
      const listeners = [...app.get(WsTransport).connections.keys()].map((ws) => ws.listeners('error'));
      expect(listeners.map((l) => l.length)).toEqual([1, 1]);
      // A closure per socket would cost every idle socket about 56 bytes.
      expect(listeners[0][0]).toBe(listeners[1][0]);
      const closed = new Promise<number>((resolve) => a.socket.once('close', (code) => resolve(code)));
      a.sendRaw('x'.repeat(2000));
      expect(await closed).toBe(1009);
      await settle(50);
      expect(logged).toContainEqual([expect.objectContaining({ message: 'Max payload size exceeded' }), undefined, 'WsAdapter']);
      expect((await b.request('ping', 1)).data).toBe(1);
      b.close();
    } finally {
      await app.close();
      await database.drop();
    }
  });

  it('works with the WsAdapter and another path', async () => {
    const adapted = await startApp(entities, { path: '/live' });
    try {
      const s = await TestSocket.open(adapted.ws);
      expect((await s.request('ping', 'a')).data).toBe('a');
      expect(await upgradeOutcome(adapted.ws.replace('/live', '/ws'))).toBe('refused');
      s.close();
    } finally {
      await adapted.close();
    }
  });
});
