import fc from 'fast-check';
import { AccessPolicy } from '../../lib/auth/access-policy.js';
import { resolveOptions } from '../../lib/bindings.options.js';
import type { RoomSpec } from '../../lib/adapters/room-shapes.js';
import { FrameCodec } from '../../lib/protocol/frame-codec.js';
import { compileMatcher, equalityKey, filterHash, parseFilter, type FieldMap } from '../../lib/query/index.js';
import type { BindingDefinition } from '../../lib/registry/binding-definition.js';
import { INDEX_VALUE_BYTES } from '../../lib/rooms/memory-budget.js';
import { RoomHub } from '../../lib/rooms/room-hub.js';
import { filterRoom } from '../../lib/rooms/room-names.js';
import { Subscriber } from '../../lib/rooms/subscriber.js';
import type { EntityChange } from '../../lib/rows/entity-change.js';
import { RowSerializer } from '../../lib/rows/row-serializer.js';

/**
 * The room hub finds a change's filter rooms through an index of the equality each filter
 * requires (query/filter-index.ts). Whatever the filters, scopes and changes, every socket
 * must get exactly the pushes (room, seq, data) it gets when every room is matched in turn.
 */

class FakeSocket extends Subscriber {
  readonly frames: string[] = [];
  send(frame: string): void {
    this.frames.push(frame);
  }
  /** The pushes without their change id, which differs between hubs. */
  get pushes(): unknown[] {
    return this.frames.map((f) => {
      const { change: _, ...push } = JSON.parse(f);
      return push;
    });
  }
}

const fields: FieldMap = new Map([
  ['id', { kind: 'number', nullable: false, column: 'id' }],
  ['tenant', { kind: 'string', nullable: true, column: 'tenant' }],
  ['price', { kind: 'number', nullable: true, column: 'price' }],
  ['name', { kind: 'string', nullable: true, column: 'name' }],
]);
const limits = { depth: 4, inValues: 1000, stringLength: 1000, patternLength: 100, terms: 100, patternTotal: 100 };

function binding(stream: string, options: Record<string, unknown>): BindingDefinition {
  const columns = [...fields.keys()].map((propertyName) => ({ propertyName }));
  return {
    stream,
    name: stream.split('.')[1],
    options,
    primary: columns[0],
    exposed: columns,
    allFields: fields,
    filterFields: fields,
    sql: { dialect: 'sqlite' },
  } as unknown as BindingDefinition;
}

const open = binding('shop.Open', {});
const scoped = binding('shop.Scoped', { scope: (user: { tenant: string }) => ({ tenant: user.tenant }) });
const registry = new Map([open, scoped].map((b) => [b.stream, b]));
const hubs: RoomHub[] = [];
afterAll(() => hubs.forEach((h) => h.onModuleDestroy()));

function hub(): RoomHub {
  const resolved = resolveOptions({ limits: { subscriptionsPerSocket: 100 } });
  const made = new RoomHub(resolved, new RowSerializer(), new AccessPolicy(resolved), new FrameCodec(resolved), {
    get: (stream: string) => registry.get(stream),
  } as any);
  hubs.push(made);
  return made;
}

/** The filter room of `filter`; without its equality key, the hub can only try it on every change. */
function spec(b: BindingDefinition, filter: unknown, indexed: boolean, count?: () => void): RoomSpec {
  const node = parseFilter(filter, fields, limits);
  const matches = compileMatcher(node, fields, 'sqlite');
  return {
    name: filterRoom(b.stream, filterHash(node)),
    kind: 'filter',
    binding: b,
    matches: count ? (row) => (count(), matches(row)) : matches,
    keys: indexed ? equalityKey(node, fields) : undefined,
    filter,
  };
}

const values: Record<string, unknown[]> = { id: [1, 2, 3], tenant: ['t1', 't2', null], price: [0, 1, 2, null], name: ['a', 'b', null] };
const condition = fc.constantFrom(...Object.keys(values)).chain((field) =>
  fc.oneof(
    fc.constantFrom(...values[field]).map((v) => ({ [field]: v })),
    fc.constantFrom(...values[field]).map((v) => ({ [field]: { ne: v } })),
    fc.array(fc.constantFrom(...values[field].filter((v) => v !== null)), { maxLength: 3 }).map((list) => ({ [field]: { in: list } })),
    fc.constantFrom(1).map(() => (field === 'price' || field === 'id' ? { [field]: { gte: 1 } } : { [field]: { like: 'a%' } })),
  ),
);
const leaf = fc.array(condition, { minLength: 1, maxLength: 3 }).map((parts) => Object.assign({}, ...parts) as Record<string, unknown>);
const filter = fc.oneof({ weight: 3, arbitrary: leaf }, fc.record({ $or: fc.array(leaf, { minLength: 1, maxLength: 2 }) }));
const row = fc.record({
  id: fc.constantFrom(1, 2, 3),
  tenant: fc.constantFrom('t1', 't2', null),
  price: fc.constantFrom(0, 1, 2, null),
  name: fc.constantFrom('a', 'b', null),
});
const change = (b: BindingDefinition) =>
  fc.tuple(fc.constantFrom('created', 'updated', 'deleted'), row, row).map(([kind, before, after]): EntityChange => {
    if (kind === 'created') return { binding: b, kind, id: after.id, after };
    if (kind === 'deleted') return { binding: b, kind, id: before.id, before };
    return { binding: b, kind: 'updated', id: after.id, before: { ...before, id: after.id }, after, changes: ['price'] };
  });
const user = fc.constantFrom({ id: 'u1', tenant: 't1' }, { id: 'u2', tenant: 't2' }, { id: 'u3', tenant: 't1' });

describe('filter rooms found by index', () => {
  for (const b of [open, scoped]) {
    it(`every socket gets the same pushes as when every room is tried (${b.options.scope ? 'scoped' : 'unscoped'} binding)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(user, filter), { minLength: 1, maxLength: 25 }),
          fc.array(change(b), { minLength: 1, maxLength: 12 }),
          async (subs, changes) => {
            const [indexed, linear] = [hub(), hub()];
            const sockets: Array<[FakeSocket, FakeSocket]> = [];
            for (const [who, f] of subs) {
              let specs: [RoomSpec, RoomSpec];
              try {
                specs = [spec(b, f, true), spec(b, f, false)];
              } catch {
                continue; // a filter the parser refuses
              }
              const pair: [FakeSocket, FakeSocket] = [new FakeSocket(who), new FakeSocket(who)];
              await indexed.subscribe(pair[0], specs[0], { explicit: true });
              await linear.subscribe(pair[1], specs[1], { explicit: true });
              sockets.push(pair);
            }
            for (const c of changes) {
              indexed.publish(c);
              linear.publish(c);
            }
            for (const [a, l] of sockets) expect(a.pushes).toEqual(l.pushes);
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  it('matches a change against the rooms its row values can match, not all 10,000', async () => {
    const rooms = hub();
    let tried = 0;
    const count = () => tried++;
    const sockets = Array.from({ length: 10_000 }, () => new FakeSocket(null));
    for (const [i, s] of sockets.entries()) {
      const f = i % 2 ? { id: i } : { name: `n${i}`, price: { gte: 0 } };
      await rooms.subscribe(s, spec(open, f, true, count), { explicit: true });
    }
    const ranged = new FakeSocket(null);
    await rooms.subscribe(ranged, spec(open, { price: { gt: 5 } }, true, count), { explicit: true });
    rooms.publish({
      binding: open,
      kind: 'updated',
      id: 7,
      before: { id: 7, name: 'n8', price: 1 },
      after: { id: 7, name: 'n8', price: 9 },
      changes: ['price'],
    });
    expect(sockets.flatMap((s, i) => (s.frames.length ? [i] : []))).toEqual([7, 8]);
    expect(ranged.frames).toHaveLength(1);
    expect(tried).toBeLessThanOrEqual(6);
  });

  it('charges a filter room to its subscriber for its entries in the index', async () => {
    const rooms = hub();
    const indexed = spec(open, { id: { in: Array.from({ length: 500 }, (_, i) => i) } }, true);
    const costs = rooms.memory.subscriptions;
    expect(costs.roomCost(indexed) - costs.roomCost({ ...indexed, keys: undefined })).toBe(500 * INDEX_VALUE_BYTES);
    const before = costs.budget.used;
    await rooms.subscribe(new FakeSocket(null), indexed, { explicit: true });
    expect(costs.budget.used - before).toBeGreaterThanOrEqual(500 * INDEX_VALUE_BYTES);
  });
});
