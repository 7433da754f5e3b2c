import { jest } from '@jest/globals';
import { BindingsService } from '../../lib/index.js';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { settle, TestSocket, type TestApp } from '../fixtures/harness.js';
import { startPair, startRedis, userFromHeader } from './instances.js';

// Channels, presence and broadcasts across two instances sharing one Redis.
jest.setTimeout(30_000);

let redis: Awaited<ReturnType<typeof startRedis>>;
let a: TestApp;
let b: TestApp;
const sockets: TestSocket[] = [];
const as = async (app: TestApp, user: string) => {
  const socket = await TestSocket.open(app.ws, { 'x-user': user });
  sockets.push(socket);
  return socket;
};

beforeAll(async () => {
  ({ redis, a, b } = await startPair([Product, Category, NoteEntity], { authenticate: userFromHeader }));
});
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await a?.close();
  await b?.close();
  await redis?.stop();
});

const presence = (socket: TestSocket) => socket.frames.filter((f) => f.event === 'channel.presence').map((f) => `${f.data.user} ${f.data.action}`);

it("presence counts a user's sockets on every instance, and members everywhere hear it", async () => {
  const bob = await as(b, 'bob');
  await bob.request('channel.join', { channel: 'ops' });
  const alice1 = await as(a, 'alice');
  await alice1.request('channel.join', { channel: 'ops' });
  await bob.waitFor((f) => f.event === 'channel.presence' && f.data.user === 'alice');
  // A second socket of alice, on the other instance: no second "joined".
  const alice2 = await as(b, 'alice');
  await alice2.request('channel.join', { channel: 'ops' });
  const info = (await alice1.request('channel.info', { channel: 'ops' })).data;
  expect(info.users.map((u: { user: string }) => u.user)).toEqual(['bob', 'alice']);
  alice1.close();
  await settle(300);
  expect(presence(bob)).toEqual(['bob joined', 'alice joined']);
  alice2.close();
  await bob.waitFor((f) => f.event === 'channel.presence' && f.data.action === 'parted');
  expect(presence(bob)).toEqual(['bob joined', 'alice joined', 'alice parted']);
});

it('a channel message and a broadcast reach members on the other instance', async () => {
  const carol = await as(a, 'carol');
  const dave = await as(b, 'dave');
  await carol.request('channel.join', { channel: 'news' });
  await dave.request('channel.join', { channel: 'news' });
  await carol.request('channel.message', { channel: 'news', message: 'hello from A' });
  const got = await dave.waitFor((f) => f.event === 'channel.message');
  expect(got.data).toMatchObject({ channel: 'news', user: 'carol', message: 'hello from A' });
  await dave.request('channel.state', { channel: 'news', state: { typing: true } });
  const state = await carol.waitFor((f) => f.event === 'channel.state' && f.data.user === 'dave');
  expect(state.data.state).toEqual({ typing: true });
  // BindingsService.broadcast on A reaches a subscriber on B.
  const card = await dave.request('shop.Product.create', { name: 'broadcast target', price: 1 });
  await dave.request('shop.Product.subscribe', { id: card.data.id });
  a.app.get(BindingsService).broadcast(`shop.Product:${card.data.id}`, 'notice', { text: 'from A' });
  expect((await dave.waitFor((f) => f.event === 'notice')).data).toEqual({ text: 'from A' });
});
