// PROTOCOL.md sections 6 and 7: the memory one user can make the server keep has a bound
// in bytes, per user and in total (subscriptions and filter rooms, replay buffers, channel
// history, presence state). Each test has one user try to hold more than allowed and
// measures the process memory after a forced GC: the request over the bound is refused
// with bad_request (or, for what is kept only for replay or history, the oldest is
// dropped), and the heap stays within a generous bound, also after the socket closes.
import { IsInt, IsString } from 'class-validator';
import type { IncomingMessage } from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { ChannelMessageStore, MemoryMessageStore } from '../../lib/channels/channel-message-store.js';
import { Binding } from '../../lib/index.js';
import { RoomHub } from '../../lib/rooms/room-hub.js';
import { settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

@Binding({ app: 'mem' })
@Entity()
class Doc {
  @PrimaryGeneratedColumn() id: number;
  @Column('text') @IsString() body: string;
  @Column('int') @IsInt() n: number;
}

const MiB = 1024 * 1024;
// A gc function without a command-line flag (Node 20+), so the suite runs under plain jest.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
/** Heap and external memory after a full collection. */
async function memory(): Promise<number> {
  await settle(50);
  gc();
  gc();
  const { heapUsed, external } = process.memoryUsage();
  if (process.env.SHOW_MEMORY) console.log(`heap+external ${((heapUsed + external) / MiB).toFixed(1)} MiB`);
  return heapUsed + external;
}

const limits = {
  framesPerSecond: 1_000_000,
  burst: 1_000_000,
  subscriptionBytesPerUser: 8 * MiB,
  subscriptionBytesTotal: 20 * MiB,
  presenceBytesPerUser: MiB,
  presenceBytesTotal: 3 * MiB,
};
const channels = { historyBytes: 256 * 1024, historyBytesPerUser: MiB, historyBytesTotal: 4 * MiB };

let t: TestApp;
let hub: RoomHub;
beforeAll(async () => {
  t = await startApp([Doc], {
    authenticate: (req: IncomingMessage) => (req.headers['x-user'] ? { id: String(req.headers['x-user']) } : null),
    limits,
    channels,
  });
  hub = t.app.get(RoomHub);
});
afterAll(() => t.close());

const sockets: TestSocket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
});
const as = async (user: string) => {
  const socket = await TestSocket.open(t.ws, { 'x-user': user });
  sockets.push(socket);
  return socket;
};

/** A filter of `in` 1,000 distinct 100-character strings: about 100 KB of JSON. */
const bigFilter = (tag: string) => ({ body: { in: Array.from({ length: 1000 }, (_, i) => `${tag}-${i}-`.padEnd(100, 'x')) } });

/** Subscribes to big filters until one is refused; answers how many were accepted and the refusal. */
async function subscribeUntilRefused(socket: TestSocket, tag: string, max = 400): Promise<{ accepted: number; error: any }> {
  for (let i = 0; i < max; i++) {
    const reply = await socket.request('mem.Doc.subscribe', { filter: bigFilter(`${tag}${i}`) });
    if (reply.error) return { accepted: i, error: reply.error };
    socket.frames.length = 0;
  }
  return { accepted: max, error: undefined };
}

describe('subscriptions and filter rooms', () => {
  it('refuses a user past subscriptionBytesPerUser, keeps the heap bounded, and gives the bytes back when the socket closes', async () => {
    const base = await memory();
    const s = await as('hoarder');
    const { accepted, error } = await subscribeUntilRefused(s, 'h');
    expect(error).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/per user/) });
    // About 370 KB charged per filter (100 KB of JSON as sent, parsed and compiled): 8 MiB holds some 20.
    expect(accepted).toBeGreaterThan(5);
    expect(accepted).toBeLessThan(40);
    expect(hub.memory.subscriptions.budget.usedBy('hoarder')).toBeLessThanOrEqual(limits.subscriptionBytesPerUser);
    // Unbounded, 400 such subscriptions held about 400 MiB.
    const held = (await memory()) - base;
    expect(held).toBeLessThan(3 * limits.subscriptionBytesPerUser);
    // The socket stays usable.
    expect((await s.request('ping', 1)).data).toBe(1);

    s.close();
    await settle(100);
    expect(hub.memory.subscriptions.budget.usedBy('hoarder')).toBe(0);
    // The empty rooms stay for the replay window, within the total bound.
    expect(hub.memory.subscriptions.budget.used).toBeLessThanOrEqual(limits.subscriptionBytesTotal);
    expect((await memory()) - base).toBeLessThan(3 * limits.subscriptionBytesPerUser);
    // The same user may subscribe again.
    const again = await as('hoarder');
    expect((await again.request('mem.Doc.subscribe', { filter: bigFilter('again') })).error).toBeUndefined();
  });

  it('refuses past subscriptionBytesTotal once the idle rooms are dropped, and the heap stays within the total', async () => {
    const base = await memory();
    const results = [];
    for (const user of ['u1', 'u2', 'u3', 'u4']) results.push(await subscribeUntilRefused(await as(user), user));
    // Two users fit under the total (20 MiB for 8 MiB each), the third is cut short, the fourth gets nothing.
    expect(results[0].error.message).toMatch(/per user/);
    expect(results[3]).toMatchObject({ accepted: 0, error: { code: 'bad_request', message: expect.stringMatching(/all users/) } });
    expect(hub.memory.subscriptions.budget.used).toBeLessThanOrEqual(limits.subscriptionBytesTotal);
    const held = (await memory()) - base;
    expect(held).toBeLessThan(2 * limits.subscriptionBytesTotal);
    // The rooms of the first test, empty since its socket closed, were dropped to make space.
    expect(hub.occupied().length).toBe(hub.replayUse().rooms);
  });
});

describe('replay buffers', () => {
  it('keeps a push matched by 200 filter rooms once: 200 updates of a 10 KB row stay small, and every room still replays them all', async () => {
    const repository = t.dataSource.getRepository(Doc);
    const doc = await repository.save({ body: 'start', n: 0 });
    const s = await as('watcher');
    // 200 different filters, all matching the row.
    for (let k = 0; k < 200; k++) expect((await s.request('mem.Doc.subscribe', { filter: { id: { in: [doc.id, 1_000_000 + k] } } })).error).toBeUndefined();
    const base = await memory();
    for (let n = 1; n <= 200; n++) await repository.update(doc.id, { body: `${n}`.padEnd(10_000, 'y'), n });
    await s.waitFor(() => s.pushes().filter((p) => p.event === 'mem.Doc.updated').length === 200, 10_000).catch(() => undefined);
    expect(s.pushes().filter((p) => p.event === 'mem.Doc.updated')).toHaveLength(200);
    s.frames.length = 0;
    // Unbounded and one copy per room, this held about 400 MiB (200 rooms x 200 frames of 10 KB).
    const held = (await memory()) - base;
    expect(held).toBeLessThan(32 * MiB);
    expect(hub.memory.replay.used).toBeLessThan(16 * MiB);

    // The last room still replays all 200, each frame naming that room, as live.
    const late = await as('late');
    const reply = await late.request('mem.Doc.subscribe', { filter: { id: { in: [doc.id, 1_000_199] } }, since: 0 });
    expect(reply.data).toMatchObject({ recovered: true });
    const replayed = late.pushes();
    expect(replayed.map((p) => p.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(replayed.every((p) => p.room === reply.data.room && p.data.n === p.seq && p.data.body.length === 10_000)).toBe(true);
  });
});

describe('channel history', () => {
  it('one user spamming large messages into many channels keeps at most historyBytesPerUser; other users keep theirs', async () => {
    const store = t.app.get(ChannelMessageStore) as MemoryMessageStore;
    const other = await as('quiet');
    await other.request('channel.message', { channel: 'calm', message: 'hello' });
    const base = await memory();
    const spammer = await as('spammer');
    const text = 'z'.repeat(9_990);
    // 4,000 messages of 10 KB in 50 channels: 40 MB kept without a byte bound.
    for (let batch = 0; batch < 40; batch++) {
      const replies = await Promise.all(
        Array.from({ length: 100 }, (_, i) => spammer.request('channel.message', { channel: `spam-${i % 50}`, message: text })),
      );
      expect(replies.every((r) => r.error === undefined)).toBe(true);
      spammer.frames.length = 0;
    }
    expect(store.bytesOf('spammer')).toBeLessThanOrEqual(channels.historyBytesPerUser);
    expect(store.bytes).toBeLessThanOrEqual(channels.historyBytesTotal);
    const held = (await memory()) - base;
    expect(held).toBeLessThan(8 * MiB);
    // The newest messages are kept, the oldest dropped; the quiet user's message is untouched.
    const last = await spammer.request('channel.history', { channel: 'spam-49' });
    expect(last.data.messages.length).toBeGreaterThan(0);
    expect((await other.request('channel.history', { channel: 'calm' })).data.messages.map((m: any) => m.message)).toEqual(['hello']);
  });

  it('a channel keeps at most historyBytes, and all channels at most historyBytesTotal, oldest first', async () => {
    const store = t.app.get(ChannelMessageStore) as MemoryMessageStore;
    const text = 'w'.repeat(9_990);
    // Six users, 100 messages of 10 KB each in their own channel: 6 MB against a total of 4 MiB.
    for (let u = 0; u < 6; u++) {
      const s = await as(`writer${u}`);
      await Promise.all(Array.from({ length: 100 }, () => s.request('channel.message', { channel: `own-${u}`, message: text })));
      s.frames.length = 0;
      const kept = (await s.request('channel.history', { channel: `own-${u}` })).data.messages;
      // 256 KiB per channel: some 25 messages of 10 KB.
      expect(kept.length).toBeGreaterThan(10);
      expect(kept.length).toBeLessThan(30);
    }
    expect(store.bytes).toBeLessThanOrEqual(channels.historyBytesTotal);
  });
});

describe('presence state', () => {
  /** About 10,000 characters of JSON that V8 keeps as 1,200 small objects. */
  const state = Array.from({ length: 1200 }, () => ({ a: 1 }));

  it('refuses channel.state past presenceBytesPerUser, and gives the bytes back when the socket closes', async () => {
    const base = await memory();
    const s = await as('present');
    let refused: any;
    let accepted = 0;
    for (let i = 0; i < 300 && !refused; i++) {
      await s.request('channel.join', { channel: `p-${i}` });
      const reply = await s.request('channel.state', { channel: `p-${i}`, state });
      if (reply.error) refused = reply.error;
      else accepted++;
      s.frames.length = 0;
    }
    expect(refused).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/per user of presence state/) });
    expect(accepted).toBeGreaterThan(3);
    expect(accepted).toBeLessThan(20);
    // Replacing a state by a smaller one is always allowed.
    expect((await s.request('channel.state', { channel: 'p-0', state: 'small' })).error).toBeUndefined();
    // Unbounded, 300 such states held about 15 MB.
    expect((await memory()) - base).toBeLessThan(6 * MiB);
    s.close();
    await settle(150);
    expect(hub.memory.presence.usedBy('present')).toBe(0);
    const again = await as('present');
    await again.request('channel.join', { channel: 'p-0' });
    expect((await again.request('channel.state', { channel: 'p-0', state })).error).toBeUndefined();
  });

  it('refuses past presenceBytesTotal for all users', async () => {
    let refused: any;
    for (let u = 0; u < 10 && !refused; u++) {
      const s = await as(`crowd${u}`);
      for (let i = 0; i < 5 && !refused; i++) {
        await s.request('channel.join', { channel: `crowd-${i}` });
        const reply = await s.request('channel.state', { channel: `crowd-${i}`, state });
        if (reply.error) refused = reply.error;
      }
    }
    expect(refused).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/all users/) });
    expect(hub.memory.presence.used).toBeLessThanOrEqual(limits.presenceBytesTotal);
  });
});
