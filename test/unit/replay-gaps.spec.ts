import { RowSerializer } from '../../lib/rows/row-serializer.js';
import { AccessPolicy } from '../../lib/auth/access-policy.js';
import { resolveOptions } from '../../lib/bindings.options.js';
import type { EntityChange, Row } from '../../lib/rows/entity-change.js';
import type { BindingsModuleOptions } from '../../lib/interfaces/bindings-module-options.interface.js';
import { FrameCodec } from '../../lib/protocol/frame-codec.js';
import type { BindingDefinition } from '../../lib/registry/binding-definition.js';
import type { RoomSpec } from '../../lib/adapters/room-shapes.js';
import { RoomHub } from '../../lib/rooms/room-hub.js';
import { Subscriber } from '../../lib/rooms/subscriber.js';

/**
 * Replay (PROTOCOL.md section 4) where a `since` could be mistaken: a room deleted after
 * its replay window and created again numbers its pushes from 1 again, so a client that
 * comes back with a seq of the old room must get `recovered: false`, never a replay of
 * the new room's history. And the `joined` hook that SSE streams use to start their ids.
 */

class Sink extends Subscriber {
  readonly frames: any[] = [];
  readonly joins: Array<[string, number]> = [];
  send(frame: string): void {
    this.frames.push(JSON.parse(frame));
  }
  joined(room: string, seq: number): void {
    this.joins.push([room, seq]);
  }
}

const product = {
  stream: 'shop.Product',
  name: 'Product',
  options: {},
  primary: { propertyName: 'id' },
  exposed: [{ propertyName: 'id' }, { propertyName: 'price' }],
  allFields: new Map(),
  sql: { dialect: 'sqlite' },
} as unknown as BindingDefinition;

const hubs: RoomHub[] = [];
afterAll(() => hubs.forEach((h) => h.onModuleDestroy()));
function hub(options: BindingsModuleOptions = {}): RoomHub {
  const resolved = resolveOptions(options);
  const registry = { get: (stream: string) => (stream === product.stream ? product : undefined) };
  const rooms = new RoomHub(resolved, new RowSerializer(), new AccessPolicy(resolved), new FrameCodec(resolved), registry as any);
  hubs.push(rooms);
  return rooms;
}

const one: RoomSpec = { name: 'shop.Product:1', kind: 'instance', binding: product };
const change = (price: number): EntityChange => ({
  binding: product,
  kind: 'updated',
  id: 1,
  before: { id: 1, price: price - 1 } as Row,
  after: { id: 1, price } as Row,
  changes: ['price'],
});
const sweepLater = (rooms: RoomHub, ms: number) => (rooms as any).sweep(Date.now() + ms);

describe('a room created again after its replay window', () => {
  it('answers recovered: false to a since of its earlier life, even where the new numbering has reached it', async () => {
    const rooms = hub({ replay: { maxAge: 1000 } });
    const old = new Sink(null);
    await rooms.subscribe(old, one, { explicit: true });
    for (const price of [1, 2, 3]) rooms.publish(change(price));
    expect(old.frames.map((f) => f.seq)).toEqual([1, 2, 3]);
    rooms.leaveAll(old); // the client goes away with since = 3
    sweepLater(rooms, 5000); // and stays away past the window: the room is deleted

    const fresh = new Sink(null);
    await rooms.subscribe(fresh, one, { explicit: true });
    for (const price of [10, 11, 12, 13]) rooms.publish(change(price));
    expect(fresh.frames.map((f) => f.seq)).toEqual([1, 2, 3, 4]); // numbering starts again

    // The old client's since (3) is within the new room's numbering, but its pushes 4..
    // are not what it missed: recovered false, and nothing replayed.
    const back = new Sink(null);
    expect(await rooms.subscribe(back, one, { explicit: true, since: 3 })).toEqual({ room: 'shop.Product:1', seq: 4, recovered: false });
    expect(await rooms.subscribe(new Sink(null), one, { explicit: true, since: 0 })).toEqual({ room: 'shop.Product:1', seq: 4, recovered: false });
    expect(back.frames).toEqual([]);
    // A since past the earlier life's last seq can only come from the new room: replayed.
    rooms.publish(change(14));
    rooms.publish(change(15));
    const recent = new Sink(null);
    expect(await rooms.subscribe(recent, one, { explicit: true, since: 4 })).toEqual({ room: 'shop.Product:1', seq: 6, recovered: true });
    expect(recent.frames.map((f) => [f.seq, f.data.price])).toEqual([
      [5, 14],
      [6, 15],
    ]);
  });

  it('remembers the highest seq over several lives', async () => {
    const rooms = hub({ replay: { maxAge: 1000 } });
    const s = new Sink(null);
    await rooms.subscribe(s, one, { explicit: true });
    for (const price of [1, 2, 3, 4, 5]) rooms.publish(change(price));
    rooms.leaveAll(s);
    sweepLater(rooms, 5000);
    await rooms.subscribe(s, one, { explicit: true });
    rooms.publish(change(6));
    rooms.leaveAll(s);
    sweepLater(rooms, 5000);
    await rooms.subscribe(s, one, { explicit: true });
    rooms.publish(change(7));
    rooms.publish(change(8));
    expect(await rooms.subscribe(new Sink(null), one, { explicit: true, since: 5 })).toMatchObject({ recovered: false });
    expect(await rooms.subscribe(new Sink(null), one, { explicit: true, since: 2 })).toMatchObject({ recovered: false });
  });

  it('a room that never lived before replays from 0 as before', async () => {
    const rooms = hub();
    const s = new Sink(null);
    await rooms.subscribe(s, one, { explicit: true });
    rooms.publish(change(1));
    const late = new Sink(null);
    expect(await rooms.subscribe(late, one, { explicit: true, since: 0 })).toMatchObject({ recovered: true });
    expect(late.frames.map((f) => f.seq)).toEqual([1]);
  });
});

describe('the joined hook', () => {
  it('tells a subscriber the room seq at joining, before anything is replayed', async () => {
    const rooms = hub();
    const first = new Sink(null);
    await rooms.subscribe(first, one, { explicit: true });
    rooms.publish(change(1));
    rooms.publish(change(2));
    const second = new Sink(null);
    await rooms.subscribe(second, one, { explicit: true, since: 1 });
    expect(first.joins).toEqual([['shop.Product:1', 0]]);
    expect(second.joins).toEqual([['shop.Product:1', 2]]);
    expect(second.frames.map((f) => f.seq)).toEqual([2]);
  });
});
