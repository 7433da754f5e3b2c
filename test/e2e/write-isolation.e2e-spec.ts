// Issue 14 item 2: no write joins, or is undone by, another request's transaction (SQLite and
// PostgreSQL). Each test interleaves a binding write that is held open with other code's writes
// and reads, then makes the binding write fail, and checks what the others were told survived.
import { Injectable, NotFoundException } from '@nestjs/common';
import { IsBoolean, IsInt, IsOptional } from 'class-validator';
import {
  Column,
  DataSource,
  Entity,
  PrimaryGeneratedColumn,
  VersionColumn,
  type EntitySubscriberInterface,
  type MigrationInterface,
  type QueryRunner,
  type TransactionCommitEvent,
  type UpdateEvent,
} from 'typeorm';
import { Binding, BindingAction, BindingHandler } from '../../lib/index.js';
import { testDb } from '../fixtures/database.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** What the test makes `can.update` wait for, and every row it was asked about. */
let canHold: Deferred<boolean> | undefined;
/** Run inside `can.update`, outside any transaction: another writer changing the row meanwhile. */
let canMeanwhile: ((row: Counter) => Promise<unknown>) | undefined;
const canSaw: Array<{ id: number; value: number; locked: boolean }> = [];

@Binding({
  app: 'iso',
  can: {
    update: async (_user, row: any) => {
      canSaw.push({ id: row.id, value: row.value, locked: row.locked });
      if (row.locked) return false;
      if (canMeanwhile) await canMeanwhile(row);
      return canHold ? canHold.promise : true;
    },
  },
})
@Entity()
class Counter {
  @PrimaryGeneratedColumn() id: number;
  @Column('int') @IsInt() value: number;
  @Column({ default: false }) @IsOptional() @IsBoolean() locked: boolean;
  @VersionColumn() version: number;
}

/** Custom actions writing with the application's repository, as any application code would. */
@Injectable()
@BindingHandler(Counter)
class CounterActions {
  constructor(private readonly dataSource: DataSource) {}

  @BindingAction('bump')
  async bump(data: { id: number; to: number }) {
    const result = await this.dataSource.getRepository(Counter).update({ id: data.id }, { value: data.to });
    if (!result.affected) throw new NotFoundException(`Counter ${data.id} does not exist`);
    return { bumped: data.id };
  }

  @BindingAction('lock')
  async lock(data: { id: number }) {
    await this.dataSource.getRepository(Counter).update({ id: data.id }, { locked: true });
    return { locked: data.id };
  }
}

/** An application subscriber that keeps the writing transaction open, then fails it. */
let auditHold: Deferred<void> | undefined;
class FailingAudit implements EntitySubscriberInterface<Counter> {
  listenTo() {
    return Counter;
  }
  async afterUpdate(_event: UpdateEvent<Counter>) {
    const hold = auditHold;
    if (!hold) return;
    auditHold = undefined; // the first update only
    await hold.promise;
    throw new Error('audit log unavailable');
  }
}

/** Application subscribers that query through the DataSource rather than the event's manager. */
let afterCommitRead: number | undefined;
let writeOutside = false;
class DataSourceSubscriber implements EntitySubscriberInterface<Counter> {
  constructor(private readonly dataSource: () => DataSource) {}
  listenTo() {
    return Counter;
  }
  // TypeORM awaits this before commitTransaction returns.
  async afterTransactionCommit(_event: TransactionCommitEvent) {
    afterCommitRead = await this.dataSource().getRepository(Counter).count();
  }
  async afterUpdate() {
    // The mistake this guards against: a statement outside the transaction, awaited inside it.
    if (writeOutside) await this.dataSource().getRepository(Counter).insert({ value: -1 });
  }
}

class AddCounterIndex1700000000000 implements MigrationInterface {
  async up(runner: QueryRunner) {
    await runner.query('CREATE INDEX "counter_value_index" ON "counter" ("value")');
  }
  async down(runner: QueryRunner) {
    await runner.query('DROP INDEX "counter_value_index"');
  }
}

let t: TestApp;
let writer: TestSocket;
let other: TestSocket;
let watcher: TestSocket;
beforeAll(async () => {
  t = await startApp([Counter], { limits: { framesPerSecond: 1_000_000, burst: 1_000_000 } }, { providers: [CounterActions] });
  t.dataSource.subscribers.push(
    new FailingAudit() as EntitySubscriberInterface<any>,
    new DataSourceSubscriber(() => t.dataSource) as EntitySubscriberInterface<any>,
  );
  [writer, other, watcher] = await Promise.all([TestSocket.open(t.ws), TestSocket.open(t.ws), TestSocket.open(t.ws)]);
});
afterAll(async () => {
  for (const s of [writer, other, watcher]) s.close();
  await t.close();
});
afterEach(() => {
  writeOutside = false;
  canMeanwhile = undefined;
  canHold = undefined;
  auditHold = undefined;
  canSaw.length = 0;
});

async function counters(...values: number[]): Promise<Counter[]> {
  return Promise.all(values.map((value) => t.dataSource.getRepository(Counter).save({ value })));
}
async function stored(id: number): Promise<Counter> {
  return (await t.dataSource.getRepository(Counter).findOneBy({ id }))!;
}
async function watch(id: number): Promise<void> {
  const reply = await watcher.request('iso.Counter.subscribe', { id });
  expect(reply.error).toBeUndefined();
}
const pushOf = (id: number, value: number) => watcher.waitFor((f) => f.event === 'iso.Counter.updated' && f.data?.id === id && f.data?.value === value, 3000);
async function until(test: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !test(); i++) await settle(10);
  expect(test()).toBe(true);
}

describe('a binding write whose async `can` is pending', () => {
  it.each([
    ['forbidden', false],
    ['conflict', true],
  ] as const)('fails with %s without undoing a custom action that answered ok meanwhile, and that action pushes', async (code, allowed) => {
    const [a, b] = await counters(0, 0);
    await watch(b.id);
    canHold = deferred<boolean>();
    // A stale version makes the allowed write a conflict once `can` answers.
    const write = writer.request('iso.Counter.update', { id: a.id, value: 5, ...(code === 'conflict' ? { version: a.version - 1 } : {}) });
    await until(() => canSaw.length === 1);

    const action = await other.request('iso.Counter.bump', { id: b.id, to: 7 });
    expect(action.data).toEqual({ bumped: b.id });
    // Another user's read is answered while `can` waits: `can` runs before any transaction opens.
    const read = await other.request('iso.Counter.retrieve', { id: b.id });
    expect(read.data.value).toBe(7);

    canHold.resolve(allowed);
    expect((await write).error?.code).toBe(code);
    expect((await stored(b.id)).value).toBe(7);
    expect((await stored(a.id)).value).toBe(0);
    expect((await pushOf(b.id, 7)).data.value).toBe(7);
  });

  it('asks `can` again, about the new state, when the row changed while it was pending', async () => {
    const [a] = await counters(0);
    canHold = deferred<boolean>();
    const write = writer.request('iso.Counter.update', { id: a.id, value: 5 });
    await until(() => canSaw.length === 1);
    expect((await other.request('iso.Counter.lock', { id: a.id })).data).toEqual({ locked: a.id });
    canHold.resolve(true);
    expect((await write).error?.code).toBe('forbidden');
    expect(canSaw.map((row) => row.locked)).toEqual([false, true]);
    const row = await stored(a.id);
    expect([row.value, row.locked]).toEqual([0, true]);
  });
});

describe('a binding write whose row keeps changing while `can` runs', () => {
  it('gives up with conflict after three authorizations, writing nothing', async () => {
    const [a] = await counters(0);
    canMeanwhile = (row) => t.dataSource.getRepository(Counter).update({ id: row.id }, { value: row.value + 1 });
    const reply = await writer.request('iso.Counter.update', { id: a.id, value: 50 });
    expect(reply.error?.code).toBe('conflict');
    expect(canSaw.map((row) => row.value)).toEqual([0, 1, 2]);
    expect((await stored(a.id)).value).toBe(3);
  });
});

describe('a binding write whose transaction is held open (an async subscriber) and then fails', () => {
  it('neither takes in a custom action nor shows its uncommitted row to a read', async () => {
    const [a, b] = await counters(0, 0);
    await watch(b.id);
    const hold = (auditHold = deferred<void>());
    const write = writer.request('iso.Counter.update', { id: a.id, value: 5 });
    await settle(100); // the update has run inside its transaction; the subscriber holds it
    const action = other.request('iso.Counter.bump', { id: b.id, to: 9 });
    const read = http(t.http, 'GET', `/api/iso/Counter/${a.id}`);
    const viaSocket = other.request('iso.Counter.retrieve', { id: a.id });
    await settle(100);
    hold.resolve();

    expect((await write).error?.code).toBe('internal');
    expect((await action).data).toEqual({ bumped: b.id });
    expect((await read).body.value).toBe(0);
    expect((await viaSocket).data.value).toBe(0);
    expect((await stored(a.id)).value).toBe(0);
    expect((await stored(b.id)).value).toBe(9);
    expect((await pushOf(b.id, 9)).data.value).toBe(9);
    await settle();
    expect(watcher.pushes().filter((f) => f.data?.id === a.id)).toEqual([]);
  });
});

describe('an application transaction held open, then rolled back', () => {
  it('does not take in a binding write made meanwhile, which stays and pushes', async () => {
    const [a, b] = await counters(0, 0);
    await watch(b.id);
    const hold = deferred<void>();
    const entered = deferred<void>();
    const appTransaction = t.dataSource
      .transaction(async (manager) => {
        await manager.getRepository(Counter).update({ id: a.id }, { value: 3 });
        entered.resolve();
        await hold.promise;
        throw new Error('the application gives up');
      })
      .catch((error: Error) => error.message);
    await entered.promise;
    const write = writer.request('iso.Counter.update', { id: b.id, value: 4 });
    await settle(100);
    hold.resolve();
    expect(await appTransaction).toBe('the application gives up');
    expect((await write).data.value).toBe(4);
    expect((await stored(b.id)).value).toBe(4);
    expect((await stored(a.id)).value).toBe(0);
    expect((await pushOf(b.id, 4)).data.value).toBe(4);
  });
});

describe('the DataSource keeps working', () => {
  it('runs a migration after start-up, then serves writes', async () => {
    (t.dataSource.migrations as MigrationInterface[]).push(new AddCounterIndex1700000000000());
    const ran = await t.dataSource.runMigrations();
    expect(ran.map((m) => m.name)).toEqual(['AddCounterIndex1700000000000']);
    const [a] = await counters(0);
    expect((await writer.request('iso.Counter.update', { id: a.id, value: 2 })).data.value).toBe(2);
  });

  it('lets a subscriber read through the DataSource once the transaction has committed', async () => {
    const [a] = await counters(0);
    afterCommitRead = undefined;
    expect((await writer.request('iso.Counter.update', { id: a.id, value: 1 })).data.value).toBe(1);
    expect(afterCommitRead).toBeGreaterThan(0);
  });

  it('never hangs on a statement issued through the DataSource inside a transaction', async () => {
    const [a] = await counters(0);
    const options = t.dataSource.driver.options as { timeout?: number };
    const timeout = options.timeout;
    options.timeout = 300; // SQLite's wait for a locked database, made short for the test
    writeOutside = true;
    try {
      const started = Date.now();
      const reply = await writer.request('iso.Counter.update', { id: a.id, value: 8 });
      if (testDb === 'sqlite') {
        // One connection: the statement would wait for the very transaction that awaits it.
        // It fails like a locked database after the wait, and the write is rolled back.
        expect(reply.error?.code).toBe('internal');
        expect((await stored(a.id)).value).toBe(0);
      } else {
        // Another pooled connection: the statement commits on its own.
        expect(reply.data.value).toBe(8);
      }
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      options.timeout = timeout;
    }
  });

  it('synchronizes, nests transactions as savepoints and serves writes after them', async () => {
    await t.dataSource.synchronize();
    const [a] = await counters(0);
    await t.dataSource.transaction(async (manager) => {
      await manager.getRepository(Counter).update({ id: a.id }, { value: 1 });
      await manager
        .transaction(async (inner) => {
          await inner.getRepository(Counter).update({ id: a.id }, { value: 2 });
          throw new Error('undo the savepoint');
        })
        .catch(() => undefined);
    });
    expect((await stored(a.id)).value).toBe(1);
    const reply = await writer.request('iso.Counter.update', { id: a.id, value: 6 });
    expect(reply.data.value).toBe(6);
    expect((await http(t.http, 'GET', `/api/iso/Counter/${a.id}`)).body.value).toBe(6);
  });
});
