import { jest } from '@jest/globals';
import { PresenceStore } from '../../lib/adapters/presence-store.js';
import { Category, Product } from '../fixtures/entities.js';
import { settle, TestSocket, type TestApp } from '../fixtures/harness.js';
import { startPair, startRedis, userFromHeader } from './instances.js';

// Presence in Redis expires with the instance that held it (adapter.presenceTtl): a crashed
// instance's users part within 4/3 of the TTL on the instances that are left, and a live
// instance's presence never expires.
jest.setTimeout(30_000);

const TTL = 900;
/** The documented bound (TTL plus one check every TTL/3), with room for a loaded machine. */
const PARTED_WITHIN = (TTL * 4) / 3 + 1500;

let redis: Awaited<ReturnType<typeof startRedis>>;
let a: TestApp;
let b: TestApp;
const sockets: TestSocket[] = [];
const as = async (app: TestApp, user: string) => {
  const socket = await TestSocket.open(app.ws, { 'x-user': user });
  sockets.push(socket);
  return socket;
};
/** The store's own heartbeat timer and tick (private): what a crash or a long pause stops. */
const storeOf = (app: TestApp) =>
  app.app.get(PresenceStore) as unknown as { timer?: NodeJS.Timeout; tick(): Promise<void>; redis: { disconnect(): void; connect(): Promise<void> } };
async function until(test: () => boolean, timeout = 5000): Promise<void> {
  const end = Date.now() + timeout;
  while (!test()) {
    if (Date.now() > end) throw new Error('condition not met');
    await settle(20);
  }
}
const presence = (socket: TestSocket, channel: string) =>
  socket.frames.filter((f) => f.event === 'channel.presence' && f.data.channel === channel).map((f) => `${f.data.user} ${f.data.action}`);
const users = async (socket: TestSocket, channel: string) =>
  (await socket.request('channel.info', { channel })).data.users.map((u: { user: string }) => u.user).sort();

beforeAll(async () => {
  ({ redis, a, b } = await startPair([Product, Category], { authenticate: userFromHeader }, { presenceTtl: TTL }));
});
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await a?.close();
  await b?.close();
  await redis?.stop();
});

it('the presence of live instances never expires', async () => {
  const alice = await as(a, 'alice');
  const bob = await as(b, 'bob');
  await alice.request('channel.join', { channel: 'live' });
  await bob.request('channel.join', { channel: 'live' });
  await settle(TTL * 4);
  expect(await users(alice, 'live')).toEqual(['alice', 'bob']);
  expect(await users(bob, 'live')).toEqual(['alice', 'bob']);
  expect([...presence(alice, 'live'), ...presence(bob, 'live')].filter((p) => p.endsWith('parted'))).toEqual([]);
});

it('an instance that paused past its TTL is taken for gone, then puts its users back when it resumes', async () => {
  const carol = await as(a, 'carol');
  const dave = await as(b, 'dave');
  await carol.request('channel.join', { channel: 'paused' });
  await dave.request('channel.join', { channel: 'paused' });
  const store = storeOf(b);
  clearInterval(store.timer);
  await carol.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'dave' && f.data.action === 'parted', PARTED_WITHIN + TTL);
  expect(await users(carol, 'paused')).toEqual(['carol']);
  await store.tick(); // B resumes
  await until(() => presence(carol, 'paused').length === 4);
  expect(presence(carol, 'paused')).toEqual(['carol joined', 'dave joined', 'dave parted', 'dave joined']);
  expect(await users(carol, 'paused')).toEqual(['carol', 'dave']);
  store.timer = setInterval(() => void store.tick(), TTL / 3).unref();
});

it('a departure that Redis missed (a short outage) is retried once Redis answers: nothing stays behind on a live instance', async () => {
  const gina = await as(a, 'gina');
  const hank = await as(b, 'hank');
  await gina.request('channel.join', { channel: 'blip' });
  await hank.request('channel.join', { channel: 'blip' });
  // A's ticks are driven by hand, within its TTL, so B never takes A for gone here.
  const store = storeOf(a);
  clearInterval(store.timer);
  await store.tick();
  store.redis.disconnect();
  gina.close();
  await settle(100); // the removal failed
  await store.redis.connect();
  await store.tick();
  await hank.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'gina' && f.data.action === 'parted', 1000);
  expect(await users(hank, 'blip')).toEqual(['hank']);
  store.timer = setInterval(() => void store.tick(), TTL / 3).unref();
  await settle(TTL * 2);
  // On a loaded machine A's hand-driven ticks may come later than its TTL: B then takes A for
  // gone and A puts gina back (announced, possibly before hank's own join reaches him) before
  // the retried removal. Either way, gina's last word is that she parted and nothing of her
  // stays behind.
  const seen = presence(hank, 'blip');
  expect(seen).toContain('hank joined');
  expect(seen.filter((p) => p.startsWith('gina')).at(-1)).toBe('gina parted');
  expect(await users(hank, 'blip')).toEqual(['hank']);
});

it('the users of a crashed instance part on the others within the documented time, states included', async () => {
  const erin = await as(a, 'erin');
  const frank = await as(b, 'frank');
  await erin.request('channel.join', { channel: 'crash' });
  await erin.request('channel.state', { channel: 'crash', state: { typing: true } });
  await frank.request('channel.join', { channel: 'crash' });
  expect(await users(frank, 'crash')).toEqual(['erin', 'frank']);
  // What a killed process leaves: no heartbeat, no connection to Redis, sockets never removed.
  const store = storeOf(a);
  clearInterval(store.timer);
  store.redis.disconnect();
  erin.close();
  const crashed = Date.now();
  await frank.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'erin' && f.data.action === 'parted', PARTED_WITHIN + 1000);
  expect(Date.now() - crashed).toBeLessThanOrEqual(PARTED_WITHIN);
  const info = (await frank.request('channel.info', { channel: 'crash' })).data;
  expect(info.users).toEqual([{ user: 'frank', state: null }]);
  expect(presence(frank, 'crash')).toEqual(['frank joined', 'erin parted']);
});
