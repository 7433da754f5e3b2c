import { RowSerializer } from '../../lib/rows/row-serializer.js';
import { AccessPolicy } from '../../lib/auth/access-policy.js';
import { resolveOptions } from '../../lib/bindings.options.js';
import type { EntityChange, Row } from '../../lib/rows/entity-change.js';
import { MemoryMessageStore, type ChannelMessageData } from '../../lib/channels/channel-message-store.js';
import type { BindingsModuleOptions } from '../../lib/interfaces/bindings-module-options.interface.js';
import { FrameCodec } from '../../lib/protocol/frame-codec.js';
import type { BindingDefinition } from '../../lib/registry/binding-definition.js';
import { approximateSize, bodySize, ENTRY_BYTES, MemoryBudget, ReplayMemory, type PushBody } from '../../lib/rooms/memory-budget.js';
import { ReplayBuffer } from '../../lib/rooms/replay-buffer.js';
import type { RoomSpec } from '../../lib/adapters/room-shapes.js';
import { RoomHub } from '../../lib/rooms/room-hub.js';
import { filterRoom } from '../../lib/rooms/room-names.js';
import { Subscriber } from '../../lib/rooms/subscriber.js';

/** The byte accounting of PROTOCOL.md section 6 as pure units. */

const body = (n: number, bytes = 1000): PushBody => ({
  head: '{"event":"e"',
  tail: `,"data":"${'x'.repeat(bytes - String(n).length)}","n":${n}}`,
  row: { id: n },
});
const seqs = (pushes: Array<{ seq: number }> | undefined) => pushes?.map((p) => p.seq);

describe('defaults', () => {
  it('are the documented ones', () => {
    const { limits, channels } = resolveOptions();
    const MiB = 1024 * 1024;
    expect(limits).toMatchObject({
      subscriptionBytesPerUser: 16 * MiB,
      subscriptionBytesTotal: 128 * MiB,
      replayBytesPerRoom: 4 * MiB,
      replayBytesTotal: 64 * MiB,
      presenceBytesPerUser: MiB,
      presenceBytesTotal: 64 * MiB,
      liveListBytesPerUser: 16 * MiB,
      liveListBytesTotal: 128 * MiB,
    });
    expect(channels).toMatchObject({ historyBytes: MiB, historyBytesPerUser: 4 * MiB, historyBytesTotal: 64 * MiB });
  });
});

describe('approximateSize', () => {
  it('grows with string lengths and with the number of values, not only with the JSON length', () => {
    expect(approximateSize('x'.repeat(1000))).toBeGreaterThanOrEqual(1000);
    // [1,1,1,...]: 2 characters of JSON per value, many more bytes on the heap.
    expect(approximateSize(Array(1000).fill(1))).toBeGreaterThanOrEqual(10 * JSON.stringify(Array(1000).fill(1)).length);
    expect(approximateSize({ a: { b: ['c'] } })).toBeGreaterThan(approximateSize({ a: 1 }));
  });
});

describe('MemoryBudget', () => {
  it('charges per user and in total, refuses past either bound with bad_request, forgets users that hold nothing', () => {
    const budget = new MemoryBudget('things', 100, 150);
    budget.charge('a', 60);
    expect(() => budget.charge('a', 41)).toThrow(
      expect.objectContaining({ code: 'bad_request', message: expect.stringMatching(/100 bytes per user of things/) }),
    );
    budget.charge('b', 90);
    expect(budget.tryCharge('c', 1)).toBe(false);
    expect(() => budget.charge('c', 1)).toThrow(expect.objectContaining({ code: 'bad_request', message: expect.stringMatching(/150 bytes for all users/) }));
    budget.release('a', 60);
    expect(budget.usedBy('a')).toBe(0);
    expect(budget.used).toBe(90);
    expect(budget.tryCharge('c', 60)).toBe(true);
  });
});

describe('ReplayBuffer bytes', () => {
  it('drops the oldest pushes past its byte bound: an old since is not recovered, a recent one is', () => {
    const size = bodySize(body(0)) + ENTRY_BYTES;
    const buffer = new ReplayBuffer(1000, 60_000, 'r', 3 * size);
    for (let seq = 1; seq <= 10; seq++) buffer.add({ seq, at: 1000, body: body(seq) });
    expect(buffer.length).toBe(3);
    expect(buffer.bytes).toBeLessThanOrEqual(3 * size);
    expect(buffer.after(0, 10, 1000)).toBeUndefined();
    expect(seqs(buffer.after(7, 10, 1000))).toEqual([8, 9, 10]);
  });

  it('keeps nothing of a push larger than its bound, and says so', () => {
    const memory = new ReplayMemory(1_000_000);
    const buffer = new ReplayBuffer(1000, 60_000, 'r', 500, memory);
    buffer.add({ seq: 1, at: 1000, body: body(1, 2000) });
    expect(buffer.length).toBe(0);
    expect(memory.used).toBe(0);
    expect(buffer.after(0, 1, 1000)).toBeUndefined();
  });

  it('builds each room its own frame from one shared body, counted once in the total', () => {
    const memory = new ReplayMemory(1_000_000);
    const a = new ReplayBuffer(10, 60_000, 'shop.P?a', Infinity, memory);
    const b = new ReplayBuffer(10, 60_000, 'shop.P?b', Infinity, memory);
    const shared = body(1);
    a.add({ seq: 4, at: 1000, body: shared });
    b.add({ seq: 9, at: 1000, body: shared });
    expect(memory.used).toBe(bodySize(shared) + 2 * ENTRY_BYTES);
    expect(JSON.parse(a.after(3, 4, 1000)![0].frame)).toMatchObject({ event: 'e', room: 'shop.P?a', seq: 4, n: 1 });
    expect(JSON.parse(b.after(8, 9, 1000)![0].frame)).toMatchObject({ event: 'e', room: 'shop.P?b', seq: 9, n: 1 });
    a.clear();
    expect(memory.used).toBe(bodySize(shared) + ENTRY_BYTES);
    b.clear();
    expect(memory.used).toBe(0);
  });

  it('over the total, drops the oldest pushes of whichever room, and stays proportional to what it keeps', () => {
    const one = bodySize(body(0)) + ENTRY_BYTES;
    const memory = new ReplayMemory(5 * one);
    const a = new ReplayBuffer(1000, 60_000, 'a', Infinity, memory);
    const b = new ReplayBuffer(1000, 60_000, 'b', Infinity, memory);
    for (let seq = 1; seq <= 3; seq++) a.add({ seq, at: 1000, body: body(seq) });
    for (let seq = 1; seq <= 3; seq++) b.add({ seq, at: 1000, body: body(10 + seq) });
    // Six pushes for room for five: a's first went.
    expect(memory.used).toBeLessThanOrEqual(5 * one);
    expect(a.after(0, 3, 1000)).toBeUndefined();
    expect(seqs(a.after(1, 3, 1000))).toEqual([2, 3]);
    expect(seqs(b.after(0, 3, 1000))).toEqual([1, 2, 3]);
    for (let seq = 4; seq <= 10_000; seq++) b.add({ seq, at: 1000, body: body(seq) });
    expect(a.length).toBe(0);
    expect(b.length).toBe(5);
    expect((memory as any).queue.length).toBeLessThan(3000);
    expect(memory.used).toBe(5 * one);
  });
});

describe('MemoryMessageStore bytes', () => {
  const message = (channel: string, user: string | null, id: string, text: string): ChannelMessageData => ({
    channel,
    id,
    user,
    message: text,
    date: new Date(0).toISOString(),
  });
  const size = approximateSize(message('c0', 'spam', '000', 'x'.repeat(1000)));
  const ids = async (store: MemoryMessageStore, channel: string) => (await store.history(channel, 1000)).map((m) => m.id);

  it('keeps at most `perChannel` bytes in a channel, oldest dropped first', async () => {
    const store = new MemoryMessageStore(100, { perChannel: 3 * size, perUser: Infinity, total: Infinity });
    for (let i = 0; i < 10; i++) await store.append(message('c0', 'spam', `00${i}`, 'x'.repeat(1000)), 100);
    expect(await ids(store, 'c0')).toEqual(['007', '008', '009']);
  });

  it("keeps at most `perUser` bytes of one author's messages, in all channels; other authors keep theirs", async () => {
    const store = new MemoryMessageStore(100, { perChannel: Infinity, perUser: 4 * size, total: Infinity });
    await store.append(message('c0', 'quiet', '000', 'x'.repeat(1000)), 100);
    for (let i = 0; i < 10; i++) await store.append(message(`c${i % 3}`, 'spam', `10${i}`, 'x'.repeat(1000)), 100);
    expect(store.bytesOf('spam')).toBeLessThanOrEqual(4 * size);
    expect(await ids(store, 'c0')).toEqual(['000', '106', '109']);
    expect([...(await ids(store, 'c1')), ...(await ids(store, 'c2'))].sort()).toEqual(['107', '108']);
    // Deleting and editing keep the count exact.
    await store.delete('c0', '109');
    await store.edit('c1', '107', 'short');
    expect(store.bytesOf('spam')).toBe(approximateSize(message('c1', 'spam', '107', 'short')) + 2 * size);
    await store.delete('c0', '106');
    await store.delete('c1', '107');
    await store.delete('c2', '108');
    await store.delete('c0', '000');
    expect(store.bytes).toBe(0);
  });

  it('keeps at most `total` bytes, dropping from the channel written to least recently', async () => {
    const store = new MemoryMessageStore(100, { perChannel: Infinity, perUser: Infinity, total: 5 * size });
    for (let i = 0; i < 3; i++) await store.append(message('c8', 'anna', `00${i}`, 'x'.repeat(1000)), 100);
    for (let i = 0; i < 4; i++) await store.append(message('c9', 'bert', `10${i}`, 'x'.repeat(1000)), 100);
    expect(store.bytes).toBeLessThanOrEqual(5 * size);
    expect(await ids(store, 'c8')).toEqual(['002']);
    expect(await ids(store, 'c9')).toEqual(['100', '101', '102', '103']);
  });
});

describe('RoomHub subscription bytes', () => {
  class Sink extends Subscriber {
    send(): void {}
  }
  const product = {
    stream: 'shop.Product',
    name: 'Product',
    options: {},
    primary: { propertyName: 'id' },
    exposed: [],
    allFields: new Map(),
    sql: { dialect: 'sqlite' },
  } as unknown as BindingDefinition;
  const hubs: RoomHub[] = [];
  afterAll(() => hubs.forEach((h) => h.onModuleDestroy()));
  function hub(options: BindingsModuleOptions): RoomHub {
    const resolved = resolveOptions(options);
    const made = new RoomHub(
      resolved,
      { serialize: (_b: unknown, row: Row) => row } as unknown as RowSerializer,
      new AccessPolicy(resolved),
      new FrameCodec(resolved),
      { get: () => product } as any,
    );
    hubs.push(made);
    return made;
  }
  const filter = (tag: string): RoomSpec => ({
    name: filterRoom('shop.Product', tag),
    kind: 'filter',
    binding: product,
    matches: () => true,
    filter: { name: { in: Array(100).fill(tag) } },
  });
  const change = (id: number): EntityChange => ({ binding: product, kind: 'created', id, after: { id, name: 'n' } });

  it('refuses an explicit subscription over the bound, skips an automatic one, and releases on leave', async () => {
    const rooms = hub({ limits: { subscriptionBytesPerUser: 20_000 } });
    const ann = new Sink({ id: 'ann' });
    const results: unknown[] = [];
    for (let i = 0; i < 10; i++) results.push(await rooms.subscribe(ann, filter(`f${i}`), { explicit: true }).catch((e) => e.code));
    const accepted = results.filter((r) => r !== 'bad_request').length;
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(10);
    expect(rooms.memory.subscriptions.budget.usedBy('ann')).toBeLessThanOrEqual(20_000);
    // An automatic subscription (after a retrieve) is skipped, not an error.
    await expect(rooms.subscribe(ann, filter('auto'), { explicit: false })).resolves.toEqual({ room: filterRoom('shop.Product', 'auto'), seq: 0 });
    expect(rooms.members(filterRoom('shop.Product', 'auto')).size).toBe(0);
    // Automatic subscriptions of a socket give way to its explicit ones, least recently used first.
    const cat = new Sink({ id: 'cat' });
    for (let i = 0; i < 10; i++) await rooms.subscribe(cat, filter(`c${i}`), { explicit: false });
    const held = [...cat.rooms.keys()].map((room) => room.name);
    expect(held.length).toBe(accepted);
    await rooms.subscribe(cat, filter('wanted'), { explicit: true });
    expect(rooms.members(filterRoom('shop.Product', 'wanted')).has(cat)).toBe(true);
    expect([...cat.rooms.keys()].map((room) => room.name)).not.toContain(held[0]);
    // A second socket of the same user shares the bound; another user has its own.
    await expect(rooms.subscribe(new Sink({ id: 'ann' }), filter('f99'), { explicit: true })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(rooms.subscribe(new Sink({ id: 'bob' }), filter('f99'), { explicit: true })).resolves.toBeDefined();
    rooms.leaveAll(ann);
    expect(rooms.memory.subscriptions.budget.usedBy('ann')).toBe(0);
  });

  it('bounds each anonymous socket on its own, and gives its bytes back when it leaves', async () => {
    const rooms = hub({ limits: { subscriptionBytesPerUser: 20_000 } });
    const first = new Sink(null);
    let accepted = 0;
    for (let i = 0; i < 10; i++)
      accepted += await rooms.subscribe(first, filter(`a${i}`), { explicit: true }).then(
        () => 1,
        () => 0,
      );
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(10);
    expect(rooms.memory.subscriptions.usedBy(first)).toBeLessThanOrEqual(20_000);
    await expect(rooms.subscribe(first, filter('a99'), { explicit: true })).rejects.toMatchObject({ code: 'bad_request' });
    // Another anonymous socket is another user: its own bound, nothing shared with the first.
    const second = new Sink(null);
    await expect(rooms.subscribe(second, filter('a99'), { explicit: true })).resolves.toBeDefined();
    const total = rooms.memory.subscriptions.budget.used;
    rooms.unsubscribe(first, filterRoom('shop.Product', 'a0'));
    expect(rooms.memory.subscriptions.budget.used).toBeLessThan(total);
    await expect(rooms.subscribe(first, filter('a98'), { explicit: true })).resolves.toBeDefined();
    rooms.leaveAll(first);
    rooms.leaveAll(second);
    expect(rooms.memory.subscriptions.usedBy(first)).toBe(0);
    expect(rooms.memory.subscriptions.usedBy(second)).toBe(0);
  });

  it('drops the room emptied longest ago to make space in the total: its since is then not recovered', async () => {
    const rooms = hub({ limits: { subscriptionBytesPerUser: 1_000_000, subscriptionBytesTotal: 12_000 } });
    const first = new Sink({ id: 'a' });
    await rooms.subscribe(first, filter('c8'), { explicit: true });
    rooms.publish(change(1));
    rooms.leaveAll(first);
    const others = new Sink({ id: 'b' });
    let refused: any;
    for (let i = 0; i < 20 && !refused; i++) await rooms.subscribe(others, filter(`n${i}`), { explicit: true }).catch((e) => (refused = e));
    expect(refused).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/all users/) });
    expect(rooms.memory.subscriptions.budget.used).toBeLessThanOrEqual(12_000);
    rooms.leaveAll(others);
    const back = new Sink({ id: 'a' });
    await expect(rooms.subscribe(back, filter('c8'), { explicit: true, since: 0 })).resolves.toMatchObject({ recovered: false });
  });
});
