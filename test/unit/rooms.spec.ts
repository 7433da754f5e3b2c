import { RowSerializer } from '../../lib/rows/row-serializer.js';
import { AccessPolicy } from '../../lib/auth/access-policy.js';
import { resolveOptions } from '../../lib/bindings.options.js';
import type { EntityChange, Row } from '../../lib/rows/entity-change.js';
import type { BindingsModuleOptions } from '../../lib/interfaces/bindings-module-options.interface.js';
import { BindingError } from '../../lib/protocol/binding-error.js';
import { FrameCodec } from '../../lib/protocol/frame-codec.js';
import type { BindingDefinition } from '../../lib/registry/binding-definition.js';
import type { PushBody } from '../../lib/rooms/memory-budget.js';
import { ReplayBuffer } from '../../lib/rooms/replay-buffer.js';
import type { RoomSpec } from '../../lib/adapters/room-shapes.js';
import { RoomHub } from '../../lib/rooms/room-hub.js';
import { filterRoom, instanceRoom } from '../../lib/rooms/room-names.js';
import { Subscriber } from '../../lib/rooms/subscriber.js';

/** The replay buffer and the room hub (PROTOCOL.md section 4) as pure units, without sockets or a database. */

const kept = (seq: number, at = 1000): { seq: number; at: number; body: PushBody } => ({
  seq,
  at,
  body: { head: '{"event":"e"', tail: `,"data":${seq}}`, row: { id: seq } },
});

describe('ReplayBuffer', () => {
  it('answers [] when the client is up to date, undefined when it is ahead or negative', () => {
    const buffer = new ReplayBuffer(10, 60_000);
    for (let seq = 1; seq <= 3; seq++) buffer.add(kept(seq));
    expect(buffer.after(3, 3, 1000)).toEqual([]);
    expect(buffer.after(4, 3, 1000)).toBeUndefined();
    expect(buffer.after(-1, 3, 1000)).toBeUndefined();
  });

  it('returns the pushes after since, oldest first', () => {
    const buffer = new ReplayBuffer(10, 60_000);
    for (let seq = 1; seq <= 5; seq++) buffer.add(kept(seq));
    expect(buffer.after(2, 5, 1000)!.map((k) => k.seq)).toEqual([3, 4, 5]);
    expect(buffer.after(0, 5, 1000)!.map((k) => k.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps only the last `size` pushes: older since cannot be recovered', () => {
    const buffer = new ReplayBuffer(2, 60_000);
    for (let seq = 1; seq <= 5; seq++) buffer.add(kept(seq));
    expect(buffer.length).toBe(2);
    expect(buffer.after(3, 5, 1000)!.map((k) => k.seq)).toEqual([4, 5]);
    expect(buffer.after(4, 5, 1000)!.map((k) => k.seq)).toEqual([5]);
    expect(buffer.after(2, 5, 1000)).toBeUndefined();
    expect(buffer.after(0, 5, 1000)).toBeUndefined();
  });

  it('stays bounded and correct over many pushes', () => {
    const buffer = new ReplayBuffer(10, 60_000);
    for (let seq = 1; seq <= 10_000; seq++) buffer.add(kept(seq));
    expect(buffer.length).toBe(10);
    expect((buffer as any).kept.length).toBeLessThanOrEqual(10 + 66);
    expect(buffer.after(9990, 10_000, 1000)!.map((k) => k.seq)).toEqual([9991, 9992, 9993, 9994, 9995, 9996, 9997, 9998, 9999, 10_000]);
    expect(buffer.after(9989, 10_000, 1000)).toBeUndefined();
  });

  it('drops pushes older than maxAge: a since that needs them is not recovered', () => {
    const buffer = new ReplayBuffer(100, 1000);
    buffer.add(kept(1, 0));
    buffer.add(kept(2, 700));
    buffer.add(kept(3, 1500));
    // At 1600, push 1 (at 0) is too old; 2 and 3 are within the window.
    expect(buffer.after(1, 3, 1600)!.map((k) => k.seq)).toEqual([2, 3]);
    expect(buffer.after(0, 3, 1600)).toBeUndefined();
    // At 2000 push 2 is gone too.
    expect(buffer.after(1, 3, 2000)).toBeUndefined();
    expect(buffer.after(2, 3, 2000)!.map((k) => k.seq)).toEqual([3]);
    // Once everything is too old, only an up-to-date client recovers.
    expect(buffer.after(2, 3, 10_000)).toBeUndefined();
    expect(buffer.after(3, 3, 10_000)).toEqual([]);
  });

  it('prune forgets what is older than the window', () => {
    const buffer = new ReplayBuffer(100, 1000);
    buffer.add(kept(1, 0));
    buffer.add(kept(2, 900));
    buffer.prune(1500);
    expect(buffer.length).toBe(1);
    expect(buffer.after(1, 2, 1500)!.map((k) => k.seq)).toEqual([2]);
  });
});

// --- RoomHub ---

class FakeSocket extends Subscriber {
  readonly frames: string[] = [];
  send(frame: string): void {
    this.frames.push(frame);
  }
  get pushes(): any[] {
    return this.frames.map((f) => JSON.parse(f));
  }
}

/** Bindings made by the tests, found by stream as the hub finds them in the registry. */
const registry = new Map<string, BindingDefinition>();

function binding(stream = 'shop.Product', options: Record<string, unknown> = {}): BindingDefinition {
  const columns = ['id', 'name', 'price', 'secret'].map((propertyName) => ({ propertyName }));
  const made = {
    stream,
    name: stream.split('.')[1],
    options,
    primary: columns[0],
    exposed: columns.filter((c) => c.propertyName !== 'secret'),
    allFields: new Map(),
    sql: { dialect: 'sqlite' },
  } as unknown as BindingDefinition;
  registry.set(stream, made);
  return made;
}

const product = binding();

function hub(options: BindingsModuleOptions = {}): RoomHub {
  const resolved = resolveOptions(options);
  const rooms = new RoomHub(resolved, new RowSerializer(), new AccessPolicy(resolved), new FrameCodec(resolved), {
    get: (stream: string) => registry.get(stream),
  } as any);
  hubs.push(rooms);
  return rooms;
}
const hubs: RoomHub[] = [];
afterAll(() => hubs.forEach((h) => h.onModuleDestroy()));

const instance = (id: number, b = product): RoomSpec => ({ name: instanceRoom(b.stream, id), kind: 'instance', binding: b });
const model = (b = product): RoomSpec => ({ name: b.stream, kind: 'model', binding: b });
const cheap = (b = product): RoomSpec => ({
  name: filterRoom(b.stream, 'cheap'),
  kind: 'filter',
  binding: b,
  matches: (row: Row) => (row.price as number) < 10,
});

const row = (id: number, price: number, name = `p${id}`): Row => ({ id, name, price, secret: 'hidden' });
const created = (r: Row, b = product): EntityChange => ({ binding: b, kind: 'created', id: r.id as number, after: r });
const updated = (before: Row, after: Row, b = product): EntityChange => ({
  binding: b,
  kind: 'updated',
  id: after.id as number,
  before,
  after,
  changes: ['price'],
});
const deleted = (before: Row, b = product): EntityChange => ({ binding: b, kind: 'deleted', id: before.id as number, before });

describe('RoomHub', () => {
  it('pushes nothing when no room matches', () => {
    const rooms = hub();
    const s = new FakeSocket(null);
    rooms.publish(created(row(1, 5)));
    expect(s.frames).toEqual([]);
    expect(rooms.pushes).toBe(0);
  });

  it('builds the push frame: event, room, seq, change, data without excluded columns, changes', async () => {
    const rooms = hub();
    const s = new FakeSocket(null);
    await rooms.subscribe(s, instance(1), { explicit: true });
    rooms.publish(updated(row(1, 5), row(1, 6)));
    expect(s.pushes).toEqual([
      {
        event: 'shop.Product.updated',
        room: 'shop.Product:1',
        seq: 1,
        change: expect.stringMatching(/^[0-9a-f]+-[0-9a-z]+$/),
        data: { id: 1, name: 'p1', price: 6 },
        changes: ['price'],
      },
    ]);
    expect(s.frames[0]).not.toContain('hidden');
  });

  it('a delete carries the last state; a create has no changes member', async () => {
    const rooms = hub();
    const s = new FakeSocket(null);
    await rooms.subscribe(s, model(), { explicit: true });
    rooms.publish(created(row(1, 5)));
    rooms.publish(deleted(row(1, 7)));
    expect(s.pushes.map((p) => [p.event, p.data.price, 'changes' in p])).toEqual([
      ['shop.Product.created', 5, false],
      ['shop.Product.deleted', 7, false],
    ]);
  });

  it("one push per socket per change, through the most specific room, with that room's seq", async () => {
    const rooms = hub();
    const all = new FakeSocket(null);
    const modelOnly = new FakeSocket(null);
    await rooms.subscribe(all, model(), { explicit: true });
    await rooms.subscribe(all, cheap(), { explicit: true });
    await rooms.subscribe(all, instance(1), { explicit: true });
    await rooms.subscribe(modelOnly, model(), { explicit: true });

    rooms.publish(updated(row(1, 5), row(1, 6))); // instance, filter, model
    rooms.publish(updated(row(2, 5), row(2, 6))); // filter, model
    rooms.publish(updated(row(3, 50), row(3, 60))); // model
    rooms.publish(updated(row(1, 6), row(1, 60))); // instance, filter (before), model

    expect(all.pushes.map((p) => [p.room, p.seq])).toEqual([
      ['shop.Product:1', 1],
      ['shop.Product?cheap', 2],
      ['shop.Product', 3],
      ['shop.Product:1', 2],
    ]);
    expect(modelOnly.pushes.map((p) => [p.room, p.seq])).toEqual([
      ['shop.Product', 1],
      ['shop.Product', 2],
      ['shop.Product', 3],
      ['shop.Product', 4],
    ]);
    expect(modelOnly.pushes.map((p) => p.change)).toEqual(all.pushes.map((p) => p.change));
    expect(new Set(all.pushes.map((p) => p.change)).size).toBe(4);
  });

  it('a filter room gets changes that matched before or after, not neither', async () => {
    const rooms = hub();
    const s = new FakeSocket(null);
    await rooms.subscribe(s, cheap(), { explicit: true });
    rooms.publish(updated(row(1, 50), row(1, 60))); // neither
    rooms.publish(updated(row(1, 60), row(1, 5))); // enters
    rooms.publish(updated(row(1, 5), row(1, 70))); // leaves
    rooms.publish(created(row(2, 1))); // created inside
    rooms.publish(created(row(3, 100))); // created outside
    rooms.publish(deleted(row(2, 1))); // deleted inside
    rooms.publish(deleted(row(3, 100))); // deleted outside
    expect(s.pushes.map((p) => [p.event, p.data.id, p.seq])).toEqual([
      ['shop.Product.updated', 1, 1],
      ['shop.Product.updated', 1, 2],
      ['shop.Product.created', 2, 3],
      ['shop.Product.deleted', 2, 4],
    ]);
  });

  it('sends the same string to every member of a room', async () => {
    const rooms = hub();
    const [a, b] = [new FakeSocket(null), new FakeSocket(null)];
    await rooms.subscribe(a, instance(1), { explicit: true });
    await rooms.subscribe(b, instance(1), { explicit: true });
    rooms.publish(updated(row(1, 5), row(1, 6)));
    expect(a.frames).toHaveLength(1);
    expect(b.frames[0]).toBe(a.frames[0]);
  });

  it('rooms of other bindings are not touched', async () => {
    const rooms = hub();
    const note = binding('app.Note');
    const s = new FakeSocket(null);
    await rooms.subscribe(s, model(note), { explicit: true });
    await rooms.subscribe(s, instance(1, note), { explicit: true });
    rooms.publish(updated(row(1, 5), row(1, 6)));
    expect(s.frames).toEqual([]);
  });

  it('unsubscribe and leaveAll stop the pushes', async () => {
    const rooms = hub();
    const s = new FakeSocket(null);
    await rooms.subscribe(s, instance(1), { explicit: true });
    await rooms.subscribe(s, model(), { explicit: true });
    rooms.unsubscribe(s, 'shop.Product:1');
    rooms.unsubscribe(s, 'shop.Product:999'); // not subscribed: no-op
    rooms.publish(updated(row(1, 5), row(1, 6)));
    expect(s.pushes.map((p) => p.room)).toEqual(['shop.Product']);
    rooms.leaveAll(s);
    rooms.publish(updated(row(1, 6), row(1, 7)));
    expect(s.frames).toHaveLength(1);
    expect(rooms.occupied()).toEqual([]);
  });

  it('replays what a reconnecting subscriber missed, then recovers; the room outlives its members', async () => {
    const rooms = hub();
    const first = new FakeSocket(null);
    await rooms.subscribe(first, instance(1), { explicit: true });
    rooms.publish(updated(row(1, 1), row(1, 2)));
    rooms.leaveAll(first);
    rooms.publish(updated(row(1, 2), row(1, 3)));
    rooms.publish(updated(row(1, 3), row(1, 4)));

    const second = new FakeSocket(null);
    expect(await rooms.subscribe(second, instance(1), { explicit: true, since: 1 })).toEqual({ room: 'shop.Product:1', seq: 3, recovered: true });
    expect(second.pushes.map((p) => [p.seq, p.data.price])).toEqual([
      [2, 3],
      [3, 4],
    ]);
    rooms.publish(updated(row(1, 4), row(1, 5)));
    expect(second.pushes.at(-1).seq).toBe(4);

    const third = new FakeSocket(null);
    expect(await rooms.subscribe(third, instance(1), { explicit: true, since: 4 })).toEqual({ room: 'shop.Product:1', seq: 4, recovered: true });
    expect(third.frames).toEqual([]);
    expect(await rooms.subscribe(new FakeSocket(null), instance(1), { explicit: true, since: 5 })).toEqual({
      room: 'shop.Product:1',
      seq: 4,
      recovered: false,
    });
    expect(await rooms.subscribe(new FakeSocket(null), instance(2), { explicit: true, since: 0 })).toEqual({
      room: 'shop.Product:2',
      seq: 0,
      recovered: false,
    });
  });

  it('answers recovered: false beyond the replay buffer, and replays nothing', async () => {
    const rooms = hub({ replay: { size: 2 } });
    const s = new FakeSocket(null);
    await rooms.subscribe(s, model(), { explicit: true });
    for (let price = 1; price <= 5; price++) rooms.publish(created(row(price, price)));
    const late = new FakeSocket(null);
    expect(await rooms.subscribe(late, model(), { explicit: true, since: 2 })).toEqual({ room: 'shop.Product', seq: 5, recovered: false });
    expect(late.frames).toEqual([]);
    const recent = new FakeSocket(null);
    expect(await rooms.subscribe(recent, model(), { explicit: true, since: 3 })).toEqual({ room: 'shop.Product', seq: 5, recovered: true });
    expect(recent.pushes.map((p) => p.seq)).toEqual([4, 5]);
  });

  it('forgets a room once it has been empty for longer than the replay window', async () => {
    const rooms = hub({ replay: { maxAge: 1000 } });
    const s = new FakeSocket(null);
    await rooms.subscribe(s, instance(1), { explicit: true });
    rooms.publish(created(row(1, 1)));
    rooms.leaveAll(s);
    (rooms as any).sweep(Date.now() + 500);
    expect(rooms.replayUse().rooms).toBe(1);
    (rooms as any).sweep(Date.now() + 5000);
    expect(rooms.replayUse()).toEqual({ rooms: 0, pushes: 0 });
    // A new room starts counting from 1 again.
    await rooms.subscribe(s, instance(1), { explicit: true });
    rooms.publish(updated(row(1, 1), row(1, 2)));
    expect(s.pushes.at(-1).seq).toBe(1);
  });

  describe('subscriptionsPerSocket', () => {
    it('refuses an explicit subscription over the limit with bad_request, and does not keep the room', async () => {
      const rooms = hub({ limits: { subscriptionsPerSocket: 2 } });
      const s = new FakeSocket(null);
      await rooms.subscribe(s, instance(1), { explicit: true });
      await rooms.subscribe(s, instance(2), { explicit: true });
      const refused = rooms.subscribe(s, instance(3), { explicit: true });
      await expect(refused).rejects.toBeInstanceOf(BindingError);
      await expect(rooms.subscribe(s, instance(3), { explicit: true })).rejects.toMatchObject({ code: 'bad_request' });
      expect(rooms.replayUse().rooms).toBe(2);
      // Renewing a subscription it holds is fine.
      await rooms.subscribe(s, instance(1), { explicit: true, since: 0 });
    });

    it('drops the least recently used auto-subscription, never an explicit one, and never fails', async () => {
      const rooms = hub({ limits: { subscriptionsPerSocket: 3 } });
      const s = new FakeSocket(null);
      await rooms.subscribe(s, instance(1), { explicit: true });
      for (let id = 2; id <= 6; id++) await rooms.subscribe(s, instance(id), { explicit: false });
      expect([...s.rooms.keys()].map((r) => r.name)).toEqual(['shop.Product:1', 'shop.Product:5', 'shop.Product:6']);
      // Using an auto one again makes it the most recent.
      await rooms.subscribe(s, instance(5), { explicit: false });
      await rooms.subscribe(s, instance(7), { explicit: false });
      expect([...s.rooms.keys()].map((r) => r.name).sort()).toEqual(['shop.Product:1', 'shop.Product:5', 'shop.Product:7']);
      for (let id = 1; id <= 7; id++) rooms.publish(updated(row(id, 1), row(id, 2)));
      expect(s.pushes.map((p) => p.data.id)).toEqual([1, 5, 7]);
    });

    it("an explicit subscription is not demoted by a later automatic one, and takes an auto one's slot", async () => {
      const rooms = hub({ limits: { subscriptionsPerSocket: 2 } });
      const s = new FakeSocket(null);
      await rooms.subscribe(s, instance(1), { explicit: true });
      await rooms.subscribe(s, instance(1), { explicit: false }); // e.g. a retrieve of the same object
      await rooms.subscribe(s, instance(2), { explicit: false });
      await rooms.subscribe(s, instance(3), { explicit: false }); // drops 2, not 1
      expect([...s.rooms.keys()].map((r) => r.name)).toEqual(['shop.Product:1', 'shop.Product:3']);
      await rooms.subscribe(s, instance(4), { explicit: true }); // takes 3's slot
      expect([...s.rooms.entries()].map(([r, explicit]) => [r.name, explicit])).toEqual([
        ['shop.Product:1', true],
        ['shop.Product:4', true],
      ]);
      await rooms.subscribe(s, instance(5), { explicit: false }); // no slot: silently not subscribed
      await expect(rooms.subscribe(s, instance(5), { explicit: true })).rejects.toMatchObject({ code: 'bad_request' });
    });
  });

  it('keeps the order of pushes when the permission check is asynchronous, and drops refused ones', async () => {
    const delays: Record<number, number> = { 1: 40, 2: 0, 3: 10 };
    const guarded = binding('shop.Guarded', {
      can: {
        retrieve: (_user: unknown, r: Row) => new Promise<boolean>((resolve) => setTimeout(() => resolve(r.price !== 2), delays[r.price as number] ?? 0)),
      },
    });
    const rooms = hub();
    const s = new FakeSocket({ id: 1 });
    await rooms.subscribe(s, model(guarded), { explicit: true });
    for (const price of [1, 2, 3]) rooms.publish(created(row(price, price), guarded));
    await s.pending;
    await new Promise((r) => setTimeout(r, 20));
    await s.pending;
    expect(s.pushes.map((p) => p.data.price)).toEqual([1, 3]);
  });

  it('pushes of an unscoped binding, or of the scope a subscriber shares, compile no scope matcher for it', async () => {
    const scoped = binding('shop.Scoped', { scope: (user: { id: number }) => ({ price: { lt: 10 + user.id } }) });
    const other = binding('shop.OtherScoped', { scope: () => ({}) });
    for (const b of [scoped, other]) (b.allFields as Map<string, unknown>).set('price', { kind: 'number' });
    const rooms = hub();
    const [a, b, c] = [new FakeSocket({ id: 0 }), new FakeSocket({ id: 0 }), new FakeSocket({ id: 5 })];
    await rooms.subscribe(a, model(), { explicit: true });
    rooms.publish(created(row(1, 5)));
    expect(a.pushes).toHaveLength(1);
    // An empty Map per socket would cost about 180 bytes for nothing.
    expect(a.scopes).toBeUndefined();
    for (const s of [a, b, c]) await rooms.subscribe(s, model(scoped), { explicit: true });
    for (const price of [5, 12]) rooms.publish(created(row(price, price), scoped));
    // Each socket still gets only the rows of its own scope...
    expect([a, b, c].map((s) => s.pushes.filter((p) => p.event === 'shop.Scoped.created').map((p) => p.data.price))).toEqual([[5], [5], [5, 12]]);
    // ...checked with the compiled scope the sockets of one scope share, not a copy each (about 0.4 KiB per socket).
    expect([a.scopes, b.scopes, c.scopes]).toEqual([undefined, undefined, undefined]);
    expect(a.sharedScope('shop.Scoped')).toBe(b.sharedScope('shop.Scoped'));
    expect(c.sharedScope('shop.Scoped')).not.toBe(a.sharedScope('shop.Scoped'));
    // A scoped binding that is not its last scoped subscription gets a matcher of its own.
    await rooms.subscribe(a, model(other), { explicit: true });
    rooms.publish(created(row(7, 7), scoped));
    expect(a.pushes.at(-1).data.price).toBe(7);
    expect([...a.scopes!.keys()]).toEqual(['shop.Scoped']);
  });

  it('broadcast sends one string to every member and counts them', async () => {
    const rooms = hub();
    const [a, b] = [new FakeSocket(null), new FakeSocket(null)];
    await rooms.subscribe(a, model(), { explicit: true });
    await rooms.subscribe(b, model(), { explicit: true });
    expect(rooms.broadcast('shop.Product', 'frame')).toBe(2);
    expect(rooms.broadcast('nobody', 'frame')).toBe(0);
    expect(a.frames).toEqual(['frame']);
    expect(b.frames).toEqual(['frame']);
    expect(rooms.occupied()).toEqual([{ room: 'shop.Product', subscribers: 2 }]);
    expect([...rooms.members('shop.Product')]).toEqual([a, b]);
  });

  it('numbers changes uniquely across hubs (instances)', async () => {
    const [one, two] = [hub(), hub()];
    const [a, b] = [new FakeSocket(null), new FakeSocket(null)];
    await one.subscribe(a, model(), { explicit: true });
    await two.subscribe(b, model(), { explicit: true });
    one.publish(created(row(1, 1)));
    two.publish(created(row(1, 1)));
    expect(a.pushes[0].change).not.toBe(b.pushes[0].change);
  });
});
