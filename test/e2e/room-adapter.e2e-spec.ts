import type { EntityChange } from '../../lib/rows/entity-change.js';
import { BindingsService, RoomAdapter, type RoomHost } from '../../lib/index.js';
import type { RoomScope, RoomSpec } from '../../lib/adapters/room-shapes.js';
import { Category, Product } from '../fixtures/entities.js';
import { settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { alice, as, authenticateFromHeader, Doc } from '../fixtures/tenancy-fixtures.js';

// `adapter: <a RoomAdapter instance>`: an application's own adapter is the injection token's
// value, and the room hub calls down into it (attach, publish, filterRoomCreated, scopeCreated,
// broadcast, replay) instead of keeping everything to itself.

/** Records every call of the hub, and delivers locally like the default adapter. */
class RecordingAdapter extends RoomAdapter {
  readonly calls: unknown[][] = [];
  override attach(host: RoomHost): void {
    super.attach(host);
    this.calls.push(['attach']);
  }
  publish(change: EntityChange): void {
    this.calls.push(['publish', change.binding.stream, change.kind]);
    this.host.publish(change);
  }
  override filterRoomCreated(spec: RoomSpec, key: string): void {
    this.calls.push(['filterRoomCreated', spec.name, key, spec.filter]);
  }
  override scopeCreated(stream: string, scope: RoomScope): void {
    this.calls.push(['scopeCreated', stream, scope.filter]);
  }
  override broadcast(room: string, frame: string): void {
    this.calls.push(['broadcast', room, JSON.parse(frame).event]);
  }
}

/** Keeps numbering and replay itself: the hub asks it for a room's seq and missed pushes. */
class ReplayingAdapter extends RecordingAdapter {
  override async replay(key: string, since: number | undefined, name: string): Promise<{ seq: number; missed?: [] }> {
    this.calls.push(['replay', key, since, name]);
    return since === undefined ? { seq: 41 } : { seq: 41, missed: [] };
  }
}

const options = { authenticate: authenticateFromHeader, anonymous: false };

describe('a RoomAdapter of the application', () => {
  const adapter = new RecordingAdapter();
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp([Product, Category, Doc], { ...options, adapter });
  });
  afterAll(() => t.close());

  it('is the RoomAdapter of the app, attached to the room hub', () => {
    expect(t.app.get(RoomAdapter)).toBe(adapter);
    expect(adapter.calls[0]).toEqual(['attach']);
  });

  it('is told of committed changes, new filter rooms, new scopes and broadcasts', async () => {
    const socket = await TestSocket.open(t.ws, as(alice));
    const model = (await socket.request('shop.Product.subscribe', {})).data;
    const filtered = (await socket.request('shop.Product.subscribe', { filter: { price: { gte: 5 } } })).data;
    expect((await socket.request('t.Doc.subscribe', {})).error).toBeUndefined();

    await t.dataSource.getRepository(Product).save({ name: 'told', price: 7 });
    const push = await socket.waitFor((f) => f.event === 'shop.Product.created' && f.data.name === 'told');
    expect(push.room).toBe(filtered.room); // delivered by the hub the adapter handed it back to
    expect(t.app.get(BindingsService).broadcast(model.room, 'hello', { n: 1 })).toBe(1);
    await settle();

    expect(adapter.calls).toContainEqual(['publish', 'shop.Product', 'created']);
    expect(adapter.calls).toContainEqual(['filterRoomCreated', filtered.room, filtered.room, { price: { gte: 5 } }]);
    expect(adapter.calls).toContainEqual(['scopeCreated', 't.Doc', { tenant: { eq: alice.tenant } }]);
    expect(adapter.calls).toContainEqual(['broadcast', model.room, 'hello']);
    socket.close();
  });
});

describe('a RoomAdapter that keeps replay', () => {
  const adapter = new ReplayingAdapter();
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp([Product, Category, Doc], { ...options, adapter });
  });
  afterAll(() => t.close());

  it("answers the room's seq and the missed pushes of a subscribe", async () => {
    const socket = await TestSocket.open(t.ws, as(alice));
    expect((await socket.request('shop.Product.subscribe', {})).data).toEqual({ room: 'shop.Product', seq: 41 });
    expect((await socket.request('shop.Category.subscribe', { since: 40 })).data).toEqual({ room: 'shop.Category', seq: 41, recovered: true });
    expect(adapter.calls).toContainEqual(['replay', 'shop.Product', undefined, 'shop.Product']);
    expect(adapter.calls).toContainEqual(['replay', 'shop.Category', 40, 'shop.Category']);
    socket.close();
  });
});

describe('an adapter option of no known form', () => {
  it('stops start-up with InvalidAdapterException saying what to pass', async () => {
    await expect(startApp([Product, Category], { adapter: { redis: 42 } as never })).rejects.toThrow(
      "adapter must be { redis: 'redis://…' }, { redis: <an ioredis Redis or Cluster> } or an instance of a class extending RoomAdapter; got an object whose redis is number (Object).",
    );
  });
});
