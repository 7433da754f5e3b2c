import { jest } from '@jest/globals';
import { Reflector } from '@nestjs/core';
import { Column, DataSource, Entity, PrimaryGeneratedColumn, type EntitySubscriberInterface } from 'typeorm';
import { AccessPolicy } from '../../lib/auth/access-policy.js';
import { resolveOptions } from '../../lib/bindings.options.js';
import { Binding, BindingError } from '../../lib/index.js';
import { inputKey, sameInput } from '../../lib/query/index.js';
import type { BindingDefinition } from '../../lib/registry/binding-definition.js';
import { BindingRegistry } from '../../lib/registry/binding.registry.js';
import { BindingsMetadataAccessor } from '../../lib/registry/metadata.accessor.js';
import { RowStore } from '../../lib/rows/row-store.js';

/** The shortcuts of the request path (a read at once on a free SQLite connection, hooks answered without a promise, parsed scopes kept) give what the long way gives. */

let current: Record<string, unknown> | null = { status: 'open' };
@Binding({
  app: 'fast',
  scope: () => current,
  can: { retrieve: (user: any) => user !== 'nobody', update: async () => false, delete: () => Promise.reject(new Error('boom')) },
})
@Entity()
class Lamp {
  @PrimaryGeneratedColumn() id: number;
  @Column() name: string;
  @Column({ default: 'open' }) status: string;
  @Column({ default: false }) lit: boolean;
}

let dataSource: DataSource;
let registry: BindingRegistry;
let store: RowStore;
let lamp: BindingDefinition;

beforeAll(async () => {
  dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Lamp], synchronize: true });
  await dataSource.initialize();
  registry = new BindingRegistry(dataSource, resolveOptions(), new BindingsMetadataAccessor(new Reflector()));
  store = new RowStore(registry);
  lamp = registry.get('fast.Lamp')!;
  await dataSource.getRepository(Lamp).insert([
    { name: 'a', lit: true },
    { name: 'b', status: 'hidden' },
  ]);
});
afterAll(() => dataSource.destroy());

describe('a read on a free SQLite connection', () => {
  const sql = 'SELECT "name" FROM "lamp" WHERE "lit" = ? ORDER BY "id"';

  it('runs at once once the statement is prepared, with booleans bound as SQLite stores them, and is logged', async () => {
    expect(registry.readNow!(sql, [true])).toBeUndefined(); // not prepared yet: the usual path prepares it
    expect(await dataSource.query(sql, [true])).toEqual([{ name: 'a' }]);
    const logged = jest.spyOn(dataSource.logger, 'logQuery');
    try {
      expect(registry.readNow!(sql, [true])).toEqual([{ name: 'a' }]);
      expect(registry.readNow!(sql, [false])).toEqual([{ name: 'b' }]);
      expect(logged.mock.calls.map((call) => call[0])).toEqual([sql, sql]);
    } finally {
      logged.mockRestore();
    }
  });

  it('leaves the read to the usual path while a transaction holds the connection, so it never sees uncommitted rows', async () => {
    await dataSource.query(sql, [true]);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const transaction = dataSource.transaction(async (manager) => {
      await manager.getRepository(Lamp).insert({ name: 'uncommitted', lit: true });
      await held;
      throw new Error('rolled back');
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(registry.readNow!(sql, [true])).toBeUndefined();
    const uncommitted = store.findById(lamp, 3, undefined); // the row the transaction inserted
    release();
    await expect(transaction).rejects.toThrow('rolled back');
    expect(await uncommitted).toBeUndefined();
    expect(registry.readNow!(sql, [true])).toEqual([{ name: 'a' }]);
  });

  it('leaves the read to the usual path when a subscriber listens to queries, so it hears every one', async () => {
    await dataSource.query(sql, [true]);
    const heard: string[] = [];
    const listener: EntitySubscriberInterface = { afterQuery: (event) => void heard.push(event.query) };
    dataSource.subscribers.push(listener);
    try {
      expect(registry.readNow!(sql, [true])).toBeUndefined();
      expect((await store.findById(lamp, 1, undefined))?.name).toBe('a');
      expect(heard.some((query) => query.startsWith('SELECT'))).toBe(true);
    } finally {
      dataSource.subscribers.splice(dataSource.subscribers.indexOf(listener), 1);
    }
  });

  it('gives a failing statement to the usual path, which reports it as TypeORM does', async () => {
    const bad = 'SELECT "name" FROM "lamp" WHERE "id" = ?';
    await dataSource.query(bad, [1]);
    expect(registry.readNow!(bad, [{ not: 'bindable' }])).toBeUndefined();
    await expect(dataSource.query(bad, [{ not: 'bindable' }])).rejects.toThrow();
  });
});

describe('a read by id', () => {
  it('applies the scope it is given, whichever scopes were read with before', async () => {
    const policy = new AccessPolicy(resolveOptions());
    const scopeOf = (answer: Record<string, unknown> | null) => {
      current = answer;
      return policy.scope(lamp, 'alice');
    };
    const open = scopeOf({ status: 'open' });
    const hidden = scopeOf({ status: 'hidden' });
    for (let round = 0; round < 2; round++) {
      expect((await store.findById(lamp, 1, open))?.name).toBe('a');
      expect(await store.findById(lamp, 2, open)).toBeUndefined();
      expect(await store.findById(lamp, 1, hidden)).toBeUndefined();
      expect((await store.findById(lamp, 2, hidden))?.name).toBe('b');
      expect((await store.findById(lamp, 2, undefined))?.name).toBe('b');
      expect((await store.findById(lamp, 2, scopeOf({ status: { in: ['open', 'hidden'] } })))?.name).toBe('b');
    }
    current = { status: 'open' };
  });
});

describe('AccessPolicy', () => {
  const policy = new AccessPolicy(resolveOptions());

  it('answers a synchronous can hook at once, an asynchronous one with a promise, a throwing one with internal', async () => {
    expect(policy.allowsNow(lamp, 'retrieve', 'alice', {})).toBe(true);
    expect(policy.allowsNow(lamp, 'retrieve', 'nobody', {})).toBe(false);
    expect(policy.allowsNow(lamp, 'subscribe', 'nobody', {})).toBe(true); // no hook
    const later = policy.allowsNow(lamp, 'update', 'alice', {});
    expect(later).toBeInstanceOf(Promise);
    expect(await later).toBe(false);
    await expect(policy.allowsNow(lamp, 'delete', 'alice', {})).rejects.toMatchObject({ code: 'internal' });
    await expect(policy.authorize(lamp, 'retrieve', 'nobody', {})).rejects.toMatchObject({ code: 'forbidden' });
    await expect(policy.allows(lamp, 'update', 'alice', {})).resolves.toBe(false);
  });

  it('asks the scope hook on every request and follows its answer, reusing only the parse of an answer seen before', () => {
    current = { status: 'open' };
    const open = policy.scope(lamp, 'alice');
    current = { status: 'open' };
    expect(policy.scope(lamp, 'alice')).toBe(open); // equal answer: the same parse
    current = { status: 'hidden' };
    expect(policy.scope(lamp, 'alice')).toEqual({ kind: 'cmp', field: 'status', op: 'eq', value: 'hidden' });
    current = { status: { ne: 'open' } };
    expect(policy.scope(lamp, 'alice')).toMatchObject({ op: 'ne', value: 'open' });
    current = null;
    expect(policy.scope(lamp, 'alice')).toBeUndefined();
    current = { nope: 1 };
    expect(() => policy.scope(lamp, 'alice')).toThrow(BindingError);
    current = { nope: 1 }; // a broken answer is refused every time, never remembered as valid
    expect(() => policy.scope(lamp, 'alice')).toThrow(BindingError);
    current = { status: 'open' };
  });

  it('follows an answer object the application changes between requests', () => {
    const shared: Record<string, unknown> = { status: 'open' };
    current = shared;
    expect(policy.scope(lamp, 'alice')).toMatchObject({ value: 'open' });
    shared.status = 'hidden';
    expect(policy.scope(lamp, 'alice')).toMatchObject({ value: 'hidden' });
    shared.status = 'open';
    expect(policy.scope(lamp, 'alice')).toMatchObject({ value: 'open' });
    current = { status: 'open' };
  });

  it('keeps a bounded number of parsed answers per binding', () => {
    for (let i = 0; i < 2000; i++) {
      current = { name: `tenant-${i}` };
      expect(policy.scope(lamp, 'alice')).toMatchObject({ value: `tenant-${i}` });
    }
    const kept = (policy as unknown as { parsed: Map<string, Map<string, unknown>> }).parsed.get('fast.Lamp')!;
    expect(kept.size).toBeLessThanOrEqual(256);
    current = { status: 'open' };
  });
});

describe('inputKey', () => {
  it('tells apart what a parse tells apart', () => {
    const at = new Date('2026-01-01T00:00:00.000Z');
    const keys = [
      { a: 1 },
      { a: '1' },
      { a: true },
      { a: null },
      { a: undefined },
      { a: [1] },
      { a: { eq: 1 } },
      { a: at },
      { a: at.toISOString() },
      { a: at.getTime() },
      { b: 1 },
      { a: 1, b: 1 },
      { b: 1, a: 1 },
      { a: -0 },
      { 'a":n1': 1 },
    ].map(inputKey);
    expect(keys.every((key) => typeof key === 'string')).toBe(true);
    expect(new Set(keys).size).toBe(keys.length);
    expect(inputKey({ a: [1, { b: 'x' }] })).toBe(inputKey({ a: [1, { b: 'x' }] }));
  });

  it('says two inputs are the same exactly when their keys are', () => {
    const at = new Date('2026-01-01T00:00:00.000Z');
    const inputs: unknown[] = [
      { a: 1 },
      { a: '1' },
      { a: -0 },
      { a: 0 },
      { a: NaN },
      { a: undefined },
      {},
      { a: null },
      { a: [1, 2] },
      { a: [2, 1] },
      { a: at },
      { a: new Date(at.getTime()) },
      { a: at.toISOString() },
      { a: 1, b: 2 },
      { b: 2, a: 1 },
      { a: { in: ['x'] } },
      { a: { in: ['x'] } },
      Object.assign(Object.create(null), { a: 1 }),
    ];
    for (const a of inputs) for (const b of inputs) expect([a, b, sameInput(a, b)]).toEqual([a, b, inputKey(a) === inputKey(b)]);
  });

  it('gives no key for inputs a parse could read differently or that are too long to keep', () => {
    class Weird {
      a = 1;
    }
    expect(inputKey({ a: new Weird() })).toBeUndefined();
    expect(inputKey({ a: () => 1 })).toBeUndefined();
    expect(inputKey({ a: 1n })).toBeUndefined();
    expect(inputKey({ a: { in: Array.from({ length: 5000 }, (_, i) => i) } })).toBeUndefined();
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = { a: deep };
    expect(inputKey(deep)).toBeUndefined();
  });
});
