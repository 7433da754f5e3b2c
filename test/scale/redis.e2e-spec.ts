import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { http, settle, TestSocket } from '../fixtures/harness.js';
import { removeTempDirs, startInstance, startRedis, tempDir, type Instance } from './instances.js';

// Two processes of the sample app share one SQLite file and one Redis: a change committed
// on one reaches subscribers on both, once, with the same seq per room; replay works after
// reconnecting to the other instance; without Redis both keep serving and pushing locally.
import { jest } from '@jest/globals';
jest.setTimeout(60_000);

let redis: Awaited<ReturnType<typeof startRedis>>;
let a: Instance;
let b: Instance;
const sockets: TestSocket[] = [];
const open = async (instance: Instance) => {
  const socket = await TestSocket.open(instance.ws);
  sockets.push(socket);
  return socket;
};

beforeAll(async () => {
  redis = await startRedis();
  const env = { SAMPLE_DB: join(tempDir(), 'kanban.sqlite'), REDIS_URL: redis.url, REDIS_PREFIX: `t${randomBytes(3).toString('hex')}:` };
  a = await startInstance(env); // seeds the board first
  b = await startInstance(env);
});
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
  removeTempDirs();
});

// Updates only: the push of a card's creation is relayed asynchronously and may reach a
// socket that subscribed right after the create (correctly: it was subscribed by then).
const pushesOf = (socket: TestSocket, cardId: number) => socket.pushes().filter((p) => p.data.id === cardId && p.event.endsWith('.updated'));

it('a change committed on A reaches subscribers on A and B once, numbered alike', async () => {
  const onA = await open(a);
  const onB = await open(b);
  const card = (await http(a.http, 'POST', '/api/kanban/Card', { title: 'shared', boardId: 1 })).body;
  // B: instance and model room (one push per change); A and B: the same filter room.
  await onB.request('kanban.Card.subscribe', { id: card.id });
  await onB.request('kanban.Card.subscribe', {});
  const filterA = (await onA.request('kanban.Card.subscribe', { filter: { boardId: 1 } })).data.room;
  const onB2 = await open(b);
  const filterB = (await onB2.request('kanban.Card.subscribe', { filter: { boardId: 1 } })).data.room;
  expect(filterB).toBe(filterA);
  await settle(500); // the filter registration reaches A through Redis

  await http(a.http, 'PATCH', `/api/kanban/Card/${card.id}`, { title: 'shared 2' });
  await http(b.http, 'PATCH', `/api/kanban/Card/${card.id}`, { title: 'shared 3' });
  await onB.waitFor((f) => f.data?.title === 'shared 3');
  await onA.waitFor((f) => f.data?.title === 'shared 3');
  await onB2.waitFor((f) => f.data?.title === 'shared 3');
  await settle(200);

  // One push per change on B, through its most specific room, numbered one after the other.
  const onBPushes = pushesOf(onB, card.id);
  expect(onBPushes.map((p) => [p.room, p.data.title])).toEqual([
    [`kanban.Card:${card.id}`, 'shared 2'],
    [`kanban.Card:${card.id}`, 'shared 3'],
  ]);
  expect(onBPushes[1].seq).toBe(onBPushes[0].seq + 1);
  const seqsA = pushesOf(onA, card.id).map((p) => [p.room, p.seq, p.change]);
  const seqsB2 = pushesOf(onB2, card.id).map((p) => [p.room, p.seq, p.change]);
  expect(seqsA).toHaveLength(2);
  expect(seqsB2).toEqual(seqsA);
  expect(seqsA[1][1]).toBe((seqsA[0][1] as number) + 1);
  // The same change carries the same id on every instance.
  expect(pushesOf(onB, card.id).map((p) => p.change)).toEqual(seqsA.map((s) => s[2]));
});

it('changes committed at once on both instances reach the sockets of both in the order of their seqs', async () => {
  const card = (await http(a.http, 'POST', '/api/kanban/Card', { title: 'raced', boardId: 1 })).body;
  const onA = await open(a);
  const onB = await open(b);
  await onA.request('kanban.Card.subscribe', { id: card.id });
  await onB.request('kanban.Card.subscribe', { id: card.id });
  const N = 30;
  // Both instances write the one SQLite file: a write that finds it locked by the other process (500) is sent again.
  const write = async (i: number): Promise<number> => {
    for (let attempt = 0; attempt < 50; attempt++) {
      const { status } = await http(i % 2 ? a.http : b.http, 'PATCH', `/api/kanban/Card/${card.id}`, { title: `raced ${i}` });
      if (status !== 500) return status;
      await settle(5 + Math.random() * 20);
    }
    return 500;
  };
  expect(await Promise.all(Array.from({ length: N }, (_, i) => write(i)))).toEqual(Array(N).fill(200));
  for (const socket of [onA, onB]) await socket.waitFor(() => pushesOf(socket, card.id).length >= N);
  await settle(200);
  const seen = [onA, onB].map((socket) => pushesOf(socket, card.id).map((p) => [p.seq, p.change]));
  // Each socket: every change once, seqs one after the other as they arrived (no sorting).
  expect(seen[0].map(([seq]) => seq)).toEqual(Array.from({ length: N }, (_, i) => (seen[0][0][0] as number) + i));
  expect(seen[1]).toEqual(seen[0]);
});

it('a client replays what it missed after reconnecting to the other instance', async () => {
  const first = await open(a);
  const card = (await http(a.http, 'POST', '/api/kanban/Card', { title: 'replayed', boardId: 1 })).body;
  await first.request('kanban.Card.subscribe', { id: card.id });
  await http(b.http, 'PATCH', `/api/kanban/Card/${card.id}`, { position: 1 });
  const seen = await first.waitFor((f) => f.data?.position === 1);
  first.close();
  await http(b.http, 'PATCH', `/api/kanban/Card/${card.id}`, { position: 2 });
  await http(a.http, 'PATCH', `/api/kanban/Card/${card.id}`, { position: 3 });
  await settle(200);
  const again = await open(b);
  const reply = await again.request('kanban.Card.subscribe', { id: card.id, since: seen.seq });
  // The reply's seq is the room's last number, shared by both instances.
  expect(reply.data).toEqual({ room: `kanban.Card:${card.id}`, seq: seen.seq + 2, recovered: true });
  expect(again.pushes().map((p) => [p.seq, p.data.position])).toEqual([
    [seen.seq + 1, 2],
    [seen.seq + 2, 3],
  ]);
});

it('without Redis both instances keep serving and pushing locally, and share again once it returns', async () => {
  const onA = await open(a);
  const onB = await open(b);
  const card = (await http(a.http, 'POST', '/api/kanban/Card', { title: 'outage', boardId: 1 })).body;
  await onA.request('kanban.Card.subscribe', { id: card.id });
  await onB.request('kanban.Card.subscribe', { id: card.id });
  await redis.stop();
  await settle(300);

  const during = await http(a.http, 'PATCH', `/api/kanban/Card/${card.id}`, { title: 'during' });
  expect(during.status).toBe(200);
  await onA.waitFor((f) => f.data?.title === 'during');
  expect((await onB.request('kanban.Card.retrieve', { id: card.id })).data.title).toBe('during');
  // B's subscriber could not hear of A's change: that is what an outage loses.
  expect(pushesOf(onB, card.id).some((p) => p.data.title === 'during')).toBe(false);

  redis = await startRedis(redis.port);
  // ioredis reconnects by itself; wait until a change on A reaches B again.
  let shared = false;
  for (let i = 0; i < 40 && !shared; i++) {
    await http(a.http, 'PATCH', `/api/kanban/Card/${card.id}`, { position: i + 10 });
    await settle(250);
    shared = pushesOf(onB, card.id).some((p) => p.data.position === i + 10);
  }
  expect(shared).toBe(true);
  expect(a.output.join('')).toMatch(/Redis unreachable/);
  expect(a.output.join('')).toMatch(/Redis is back/);
});
