// Module options the standalone server is built on, on any application: `origins` (browser
// origins allowed on upgrades and event streams), an `authenticate` that refuses with a
// reason, and `channels.initialState`.
import { BindingError } from '../../lib/index.js';
import { Category, Product } from '../fixtures/entities.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

const ALLOWED = 'https://app.example.com';

let t: TestApp;
beforeAll(async () => {
  t = await startApp([Product, Category], {
    origins: [ALLOWED],
    authenticate: (req) => {
      const name = req.headers['x-user'];
      if (name === 'banned') throw new BindingError('unauthorized', 'This account is suspended');
      if (name === 'verbose') return { id: 'verbose', mood: 'x'.repeat(20_000) };
      return name ? { id: String(name), mood: `${name} is here` } : null;
    },
    channels: { initialState: (user: { mood: string }) => ({ mood: user.mood }) },
  });
});
afterAll(() => t.close());

const upgrade = (headers: Record<string, string>) =>
  TestSocket.open(t.ws, headers).then(
    (socket) => (socket.close(), 101),
    (error: { status?: number }) => error.status,
  );

describe('origins', () => {
  it('refuses an upgrade from an origin not listed with 403; a listed origin (any case) and requests without Origin pass', async () => {
    expect(await upgrade({ origin: 'https://evil.example.net', 'x-user': 'ann' })).toBe(403);
    expect(await upgrade({ origin: 'null', 'x-user': 'ann' })).toBe(403);
    expect(await upgrade({ origin: 'HTTPS://APP.EXAMPLE.COM', 'x-user': 'ann' })).toBe(101);
    expect(await upgrade({ 'x-user': 'ann' })).toBe(101);
  });

  it('refuses an event stream from an origin not listed with 403, in the contract’s shape', async () => {
    const res = await fetch(`${t.http}/api/shop/Product/events`, { headers: { origin: 'https://evil.example.net' } });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: { code: 'forbidden', message: 'This origin may not connect (module option origins)' } });
    const allowed = await fetch(`${t.http}/api/shop/Product/events`, { headers: { origin: ALLOWED } });
    expect(allowed.status).toBe(200);
    await allowed.body?.cancel();
  });
});

describe('authenticate refusing with a reason', () => {
  it('answers 401 with that reason, on the upgrade and over REST', async () => {
    expect(await upgrade({ 'x-user': 'banned' })).toBe(401);
    expect(await http(t.http, 'GET', '/api/shop/Product', undefined, { 'x-user': 'banned' })).toEqual({
      status: 401,
      body: { error: { code: 'unauthorized', message: 'This account is suspended' } },
    });
  });
});

describe('channels.initialState', () => {
  it('is the state a user has when its first socket joins, until it sets another', async () => {
    const ann = await TestSocket.open(t.ws, { 'x-user': 'ann' });
    const bea = await TestSocket.open(t.ws, { 'x-user': 'bea' });
    await ann.request('channel.join', { channel: 'moods' });
    await bea.request('channel.join', { channel: 'moods' });
    expect((await bea.request('channel.info', { channel: 'moods' })).data.users).toEqual([
      { user: 'ann', state: { mood: 'ann is here' } },
      { user: 'bea', state: { mood: 'bea is here' } },
    ]);
    await ann.request('channel.state', { channel: 'moods', state: { mood: 'busy' } });
    const again = await TestSocket.open(t.ws, { 'x-user': 'ann' });
    await again.request('channel.join', { channel: 'moods' });
    await settle();
    expect((await bea.request('channel.info', { channel: 'moods' })).data.users[0]).toEqual({ user: 'ann', state: { mood: 'busy' } });
    for (const s of [ann, bea, again]) s.close();
  });

  it('a state over the bounds is not kept: the user joins with none', async () => {
    const verbose = await TestSocket.open(t.ws, { 'x-user': 'verbose' });
    expect((await verbose.request('channel.join', { channel: 'long' })).data).toEqual({ channel: 'long' });
    expect((await verbose.request('channel.info', { channel: 'long' })).data.users).toEqual([{ user: 'verbose', state: null }]);
    verbose.close();
  });
});
