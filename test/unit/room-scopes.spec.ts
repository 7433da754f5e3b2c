import { parseFilter, type FieldMap } from '../../lib/query/index.js';
import type { BindingDefinition } from '../../lib/registry/binding-definition.js';
import type { RoomScope } from '../../lib/adapters/room-shapes.js';
import { remoteScope, roomScope, ScopeSet, scopedKey, splitKey } from '../../lib/rooms/room-scopes.js';

/** The scopes of a scoped binding's rooms (PROTOCOL.md section 4), as pure units. */

const fields: FieldMap = new Map([
  ['id', { kind: 'number', nullable: false, column: 'id' }],
  ['tenant', { kind: 'string', nullable: false, column: 'tenant' }],
  ['orgId', { kind: 'number', nullable: true, column: 'orgId' }],
  ['due', { kind: 'date', nullable: true, column: 'due' }],
  ['open', { kind: 'boolean', nullable: false, column: 'open' }],
]);
const binding = { stream: 't.Doc', allFields: fields, sql: { dialect: 'sqlite' } } as unknown as BindingDefinition;
const limits = { depth: 8, inValues: 1000, stringLength: 1000, patternLength: 100, terms: 100, patternTotal: 100 };
const scope = (filter: unknown): RoomScope => roomScope(binding, parseFilter(filter, fields, limits));

describe('room keys', () => {
  it('split back into the room name and the scope hash', () => {
    const hash = scope({ tenant: 'acme' }).hash;
    expect(hash).not.toContain('#');
    expect(splitKey(scopedKey('t.Doc:a#b', hash))).toEqual({ name: 't.Doc:a#b', scopeHash: hash });
    expect(splitKey('t.Doc?abc')).toEqual({ name: 't.Doc?abc' });
  });

  it('equal scopes hash alike; another instance rebuilds the same scope from its filter input', () => {
    const written = [{ tenant: 'acme', orgId: 3 }, { $and: [{ orgId: { eq: 3 } }, { tenant: { eq: 'acme' } }] }];
    const [one, two] = written.map(scope);
    expect(one.hash).toBe(two.hash);
    const rich = scope({
      $or: [{ tenant: 'acme', due: { lt: '2026-01-01T00:00:00.000Z' } }, { orgId: { in: [1, 2] }, open: true }, { tenant: { isNull: true } }],
    });
    const remote = remoteScope(binding, rich.hash, JSON.parse(JSON.stringify(rich.filter)));
    expect(roomScope(binding, parseFilter(remote.filter, fields, limits)).hash).toBe(rich.hash);
    const rows = [
      { tenant: 'acme', due: new Date('2025-06-01'), orgId: 9, open: false },
      { tenant: 'acme', due: new Date('2026-06-01'), orgId: 9, open: false },
      { tenant: 'x', due: null, orgId: 2, open: true },
      { tenant: null, orgId: 5, open: false },
    ];
    expect(rows.map(remote.matches)).toEqual(rows.map(rich.matches));
    expect(rows.map(rich.matches)).toEqual([true, false, true, true]);
  });

  it('a scope that does not parse on another instance matches nothing', () => {
    expect(remoteScope(binding, 'h', { nope: 1 }).matches({ nope: 1 })).toBe(false);
  });
});

describe('ScopeSet', () => {
  it('finds the scopes that hold a row, as trying every scope would', () => {
    const set = new ScopeSet(binding);
    const all = [
      scope({ tenant: 'acme' }),
      scope({ tenant: 'globex' }),
      scope({ tenant: 'acme', open: true }),
      scope({ orgId: 7 }),
      scope({ $or: [{ tenant: 'acme' }, { orgId: 7 }] }),
      scope({ tenant: { ne: 'acme' } }),
      roomScope(binding, undefined), // a user whom the scope lets see every row
    ];
    for (const s of all) set.add(s);
    set.add(scope({ tenant: 'acme' })); // the same scope again: kept once
    expect(set.size).toBe(all.length);
    const rows = [
      { tenant: 'acme', orgId: 7, open: true },
      { tenant: 'acme', orgId: '7', open: 1 }, // as PostgreSQL / SQLite may give them
      { tenant: 'globex', orgId: null, open: false },
      { tenant: null, orgId: 8, open: false },
      {},
    ];
    for (const row of rows) {
      const found = [...set.holding(row)].map((s) => s.hash).sort();
      expect(found).toEqual(
        all
          .filter((s) => s.matches(row))
          .map((s) => s.hash)
          .sort(),
      );
    }
    set.delete(all[0].hash);
    expect([...set.holding(rows[0])].map((s) => s.hash)).not.toContain(all[0].hash);
    expect(set.size).toBe(all.length - 1);
  });

  it('costs one lookup per change for tenant scopes, however many tenants there are', () => {
    const set = new ScopeSet(binding);
    let tried = 0;
    for (let i = 0; i < 10_000; i++) {
      const s = scope({ tenant: `t${i}` });
      const matches = s.matches;
      set.add({ ...s, matches: (row) => (tried++, matches(row)) });
    }
    expect([...set.holding({ tenant: 't4242' })]).toHaveLength(1);
    expect([...set.holding({ tenant: 'nobody' })]).toHaveLength(0);
    expect(tried).toBe(1);
  });
});
