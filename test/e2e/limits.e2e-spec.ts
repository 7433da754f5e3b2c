import { WebSocket } from 'ws';
import { WsTransport } from '../../lib/transports/ws/ws-transport.js';
import { BindingsService } from '../../lib/index.js';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

// Every limit of PROTOCOL.md section 6, each with a clear error and the socket kept
// (except the documented closes).
const user = (id: number) => ({ 'x-user': String(id) });

let t: TestApp;
beforeAll(async () => {
  t = await startApp([Product, Category, NoteEntity], {
    authenticate: (req) => (req.headers['x-user'] ? { id: Number(req.headers['x-user']) } : null),
    limits: { connectionsPerUser: 2, filterDepth: 3, inValues: 5, stringLength: 50, sendBuffer: 256 * 1024 },
  });
});
afterAll(() => t.close());

describe('connectionsPerUser', () => {
  it('refuses one more upgrade of the same user with 429, and accepts again after a close', async () => {
    const first = await TestSocket.open(t.ws, user(1));
    const second = await TestSocket.open(t.ws, user(1));
    await expect(TestSocket.open(t.ws, user(1))).rejects.toMatchObject({ status: 429 });
    // Another user and anonymous sockets are not affected.
    const other = await TestSocket.open(t.ws, user(2));
    const anonymous = [await TestSocket.open(t.ws), await TestSocket.open(t.ws), await TestSocket.open(t.ws)];
    expect((await second.request('ping', 1)).event).toBe('pong');
    first.close();
    await settle(100);
    const again = await TestSocket.open(t.ws, user(1));
    expect((await again.request('ping', 2)).data).toBe(2);
    for (const s of [second, other, again, ...anonymous]) s.close();
  });
});

describe('request limits answer bad_request and keep the socket', () => {
  let s: TestSocket;
  beforeAll(async () => (s = await TestSocket.open(t.ws)));
  afterAll(() => s.close());

  const depth = (n: number): object => (n === 1 ? { price: 1 } : { $or: [depth(n - 1)] });
  it('filter depth', async () => {
    expect((await s.request('shop.Product.list', { filter: depth(3) })).error).toBeUndefined();
    const reply = await s.request('shop.Product.list', { filter: depth(4) });
    expect(reply.error.code).toBe('bad_request');
    expect(reply.error.message).toMatch(/deep|depth/i);
  });
  it('values in an in list', async () => {
    expect((await s.request('shop.Product.list', { filter: { id: { in: [1, 2, 3, 4, 5] } } })).error).toBeUndefined();
    expect((await s.request('shop.Product.list', { filter: { id: { in: [1, 2, 3, 4, 5, 6] } } })).error.code).toBe('bad_request');
  });
  it('string length in filters, searches and writes', async () => {
    const long = 'x'.repeat(51);
    expect((await s.request('shop.Product.list', { filter: { name: long } })).error.code).toBe('bad_request');
    expect((await s.request('shop.Product.search', { q: long })).error.code).toBe('bad_request');
    const write = await s.request('shop.Product.create', { name: long, price: 1 });
    expect(write.error.code).toBe('bad_request');
    expect(write.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'name' })]));
    expect((await s.request('ping', 'still here')).data).toBe('still here');
  });
  it('REST applies the same limits', async () => {
    const res = await http(t.http, 'GET', `/api/shop/Product?filter=${encodeURIComponent(JSON.stringify(depth(4)))}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bad_request');
  });
});

describe('sendBuffer', () => {
  it('closes a socket that stops reading with 1013 instead of buffering without end', async () => {
    const slow = await TestSocket.open(t.ws);
    const fast = await TestSocket.open(t.ws);
    const service = t.app.get(BindingsService);
    const transport = t.app.get(WsTransport);
    // Join both sockets to a room through a subscription, then stop reading on one.
    const created = await fast.request('shop.Product.create', { name: 'buffered', price: 1 });
    const room = `shop.Product:${created.data.id}`;
    await slow.request('shop.Product.subscribe', { id: created.data.id });
    await fast.request('shop.Product.subscribe', { id: created.data.id });
    // The server side of the slow socket: the connection whose peer port is the client's own port.
    const localPort = (slow.socket as any)._socket.localPort;
    const serverSide = [...transport.connections.values()].find((c) => (c.socket as any)._socket.remotePort === localPort)!;
    (slow.socket as any)._socket.pause();
    const chunk = 'y'.repeat(64 * 1024);
    for (let round = 0; round < 2000 && serverSide.socket.readyState === 1; round++) {
      service.broadcast(room, 'bulk', chunk);
      await new Promise((r) => setImmediate(r));
    }
    expect(serverSide.socket.readyState).not.toBe(1);
    (slow.socket as any)._socket.resume();
    await new Promise<void>((resolve) => (slow.closeCode !== undefined ? resolve() : slow.socket.once('close', () => resolve())));
    expect(slow.closeCode).toBe(1013);
    // The reader that kept up is still served.
    expect((await fast.request('ping', 'ok')).data).toBe('ok');
    fast.close();
  }, 15_000);
});

describe('memory of an idle socket', () => {
  it("keeps no view of the last buffer it read, also on a server made by Nest's WsAdapter (sockets of the package's own ws)", async () => {
    const client = await TestSocket.open(t.ws);
    expect((await client.request('ping', 'x'.repeat(1000))).event).toBe('pong');
    const localPort = (client.socket as any)._socket.localPort;
    const serverSide = [...t.app.get(WsTransport).connections.values()].find((c) => (c.socket as any)._socket.remotePort === localPort)!;
    expect(serverSide.socket).toBeInstanceOf(WebSocket);
    // Before ws 8.23 the receiver kept the frame mask, a view pinning the whole buffer last read, while the socket idled.
    expect((serverSide.socket as any)._receiver._mask).toBeUndefined();
    // One error listener (Nest's): no array of listeners per socket.
    expect(serverSide.socket.listenerCount('error')).toBe(1);
    client.close();
  });
});
