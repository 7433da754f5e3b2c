import fc from 'fast-check';
import type { Room } from '../../lib/rooms/room.js';
import { SubscribedRooms } from '../../lib/rooms/subscribed-rooms.js';

/**
 * A subscriber's rooms (rooms/subscribed-rooms.ts) are a flat list while few and a Map
 * beyond: for any sequence of the hub's operations they answer as the Map they replace,
 * in the same order (the order is the LRU of automatic subscriptions).
 */

const rooms = Array.from({ length: 20 }, (_, i) => ({ name: `r${i}` }) as unknown as Room);

type Op = { kind: 'set'; room: number; explicit: boolean } | { kind: 'delete'; room: number } | { kind: 'clear' } | { kind: 'drop-first-auto' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('set' as const), room: fc.nat(19), explicit: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), room: fc.nat(19) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop-first-auto' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
);

/** Applies one operation as the hub does (a `delete` while iterating, as in `makeRoom`). */
function apply(target: Map<Room, boolean> | SubscribedRooms, step: Op): unknown {
  switch (step.kind) {
    case 'set':
      target.set(rooms[step.room], step.explicit);
      return undefined;
    case 'delete':
      return target.delete(rooms[step.room]);
    case 'clear':
      target.clear();
      return undefined;
    case 'drop-first-auto': {
      // The hub asks for the oldest automatic room; the Map's answer is the first such entry.
      let oldest: Room | undefined;
      if (target instanceof SubscribedRooms) oldest = target.oldestAutomatic();
      else for (const [room, explicit] of target) if (!explicit && !oldest) oldest = room;
      if (!oldest) return undefined;
      target.delete(oldest);
      return oldest.name;
    }
  }
}

const state = (target: Map<Room, boolean> | SubscribedRooms) => ({
  size: target.size,
  entries: [...target].map(([room, explicit]) => [room.name, explicit]),
  keys: [...target.keys()].map((room) => room.name),
  has: rooms.map((room) => target.has(room)),
  get: rooms.map((room) => target.get(room)),
});

describe('SubscribedRooms', () => {
  it('answers every operation as a Map, in the same order, below and above the list size', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (steps) => {
        const map = new Map<Room, boolean>();
        const list = new SubscribedRooms();
        for (const step of steps) {
          expect(apply(list, step)).toEqual(apply(map, step));
          expect(state(list)).toEqual(state(map));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a room in place when its flag changes, and puts a room re-added after a delete last', () => {
    const list = new SubscribedRooms();
    list.set(rooms[0], false);
    list.set(rooms[1], false);
    list.set(rooms[0], true);
    expect([...list].map(([room, explicit]) => [room.name, explicit])).toEqual([
      ['r0', true],
      ['r1', false],
    ]);
    list.delete(rooms[0]);
    list.set(rooms[0], true);
    expect([...list.keys()].map((room) => room.name)).toEqual(['r1', 'r0']);
  });

  it('lets the rooms be deleted while they are iterated, as leaveAll does', () => {
    const list = new SubscribedRooms();
    for (const room of rooms.slice(0, 3)) list.set(room, true);
    const seen: string[] = [];
    for (const room of list.keys()) {
      seen.push(room.name);
      list.delete(room);
    }
    expect(seen).toEqual(['r0', 'r1', 'r2']);
    expect(list.size).toBe(0);
  });
});
