// Issue 12 target 1: an `update` reads its row once (the locked read) and writes it with one
// UPDATE of the changed columns; its reply and its push come from that row and the values
// (RETURNING on PostgreSQL), not from TypeORM's pre-save select nor a read after. Columns the
// database sets itself (version, update date) are read back on SQLite only, where TypeORM
// writes no RETURNING. Counted with a query logger, on SQLite and PostgreSQL.
import { IsInt, IsOptional, IsString } from 'class-validator';
import { Column, Entity, PrimaryGeneratedColumn, UpdateDateColumn, VersionColumn, type EntitySubscriberInterface, type UpdateEvent } from 'typeorm';
import { Binding } from '../../lib/index.js';
import { testDb } from '../fixtures/database.js';
import { settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { alice, as, authenticateFromHeader, type TestUser } from '../fixtures/tenancy-fixtures.js';

const scope = (user: TestUser | null) => ({ tenant: user?.tenant ?? '\u0000none' });

@Binding<Item>({ app: 'r', scope })
@Entity()
class Item {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() tenant: string;
  @Column() @IsString() name: string;
  @Column('int') @IsInt() price: number;
  @Column({ type: testDb === 'postgres' ? 'timestamptz' : 'datetime', nullable: true }) @IsOptional() due: Date | null;
}

@Binding<Versioned>({ app: 'r', scope })
@Entity()
class Versioned {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() tenant: string;
  @Column('int') @IsInt() value: number;
  @VersionColumn() version: number;
  @UpdateDateColumn() updatedAt: Date;
}

/** An entity the application listens to: its updates keep going through `save`, whose events the listener expects. */
@Binding<Heard>({ app: 'r', scope })
@Entity()
class Heard {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() tenant: string;
  @Column('int') @IsInt() value: number;
}

class HeardAudit implements EntitySubscriberInterface<Heard> {
  readonly seen: { before?: number; after?: number }[] = [];
  listenTo() {
    return Heard;
  }
  afterUpdate(event: UpdateEvent<Heard>) {
    this.seen.push({ before: event.databaseEntity?.value, after: event.entity?.value });
  }
}

let t: TestApp;
let writer: TestSocket;
let watcher: TestSocket;
let statements: string[] = [];
const audit = new HeardAudit();

beforeAll(async () => {
  t = await startApp([Item, Versioned, Heard], { authenticate: authenticateFromHeader });
  const logger = (t.dataSource as any).logger;
  (t.dataSource as any).logger = Object.assign(Object.create(logger), {
    logQuery: (query: string) => void statements.push(query),
  });
  t.dataSource.subscribers.push(audit as EntitySubscriberInterface<any>);
  writer = await TestSocket.open(t.ws, as(alice));
  watcher = await TestSocket.open(t.ws, as(alice));
  for (const model of ['Item', 'Versioned', 'Heard']) expect((await watcher.request(`r.${model}.subscribe`, {})).error).toBeUndefined();
});
afterAll(async () => {
  writer.close();
  watcher.close();
  await t.close();
});

/** The statements `work` runs, transaction control (BEGIN, SAVEPOINT, COMMIT...) left out. */
async function counted<T>(work: () => Promise<T>): Promise<{ result: T; reads: string[]; writes: string[] }> {
  await settle(50);
  statements = [];
  const result = await work();
  const run = statements.filter((sql) => !/^\s*(BEGIN|START TRANSACTION|SAVEPOINT|RELEASE|COMMIT|ROLLBACK)\b/i.test(sql));
  return { result, reads: run.filter((sql) => /^\s*SELECT\b/i.test(sql)), writes: run.filter((sql) => !/^\s*SELECT\b/i.test(sql)) };
}

const updates = (model: string, id: number) => watcher.pushes().filter((p) => p.event === `r.${model}.updated` && p.data.id === id);

it('reads the row once and writes it with one UPDATE of the changed columns; the reply and the push carry the stored row', async () => {
  const row = await t.dataSource.getRepository(Item).save({ tenant: 'acme', name: 'pen', price: 3, due: null });
  const due = '2026-03-04T05:06:07.890Z';
  const { result, reads, writes } = await counted(() => writer.request('r.Item.update', { id: row.id, price: 5, name: 'pen', due }));
  expect(result.error).toBeUndefined();
  expect(reads).toHaveLength(1);
  expect(writes).toHaveLength(1);
  expect(writes[0]).toMatch(/^UPDATE/);
  // Only the changed columns are written: `name` was sent unchanged.
  expect(writes[0].replace(/ WHERE .*/s, '')).not.toMatch(/"name"/);
  const stored = (await writer.request('r.Item.retrieve', { id: row.id })).data;
  expect(stored).toEqual({ id: row.id, tenant: 'acme', name: 'pen', price: 5, due });
  expect(result.data).toEqual(stored);
  await settle(100);
  expect(updates('Item', row.id).map((p) => p.data)).toEqual([stored]);
});

it('an update that changes nothing runs no UPDATE and pushes nothing', async () => {
  const row = await t.dataSource.getRepository(Item).save({ tenant: 'acme', name: 'cup', price: 4, due: null });
  const { result, reads, writes } = await counted(() => writer.request('r.Item.update', { id: row.id, price: 4, name: 'cup' }));
  expect(result.data).toEqual({ id: row.id, tenant: 'acme', name: 'cup', price: 4, due: null });
  expect(reads).toHaveLength(1);
  expect(writes).toEqual([]);
  await settle(100);
  expect(updates('Item', row.id)).toEqual([]);
});

it('an update that would leave the writer scope is undone, answered forbidden and not pushed', async () => {
  const row = await t.dataSource.getRepository(Item).save({ tenant: 'acme', name: 'ink', price: 1, due: null });
  const reply = await writer.request('r.Item.update', { id: row.id, tenant: 'globex', price: 2 });
  expect(reply.error?.code).toBe('forbidden');
  expect(await t.dataSource.getRepository(Item).findOneBy({ id: row.id })).toMatchObject({ tenant: 'acme', price: 1 });
  await settle(100);
  expect(updates('Item', row.id)).toEqual([]);
});

it('the version and update date the database sets are in the reply and the push: read back on SQLite, returned on PostgreSQL', async () => {
  const row = await t.dataSource.getRepository(Versioned).save({ tenant: 'acme', value: 1 });
  const { result, reads, writes } = await counted(() => writer.request('r.Versioned.update', { id: row.id, value: 2, version: row.version }));
  expect(result.error).toBeUndefined();
  expect(reads).toHaveLength(testDb === 'postgres' ? 1 : 2);
  expect(writes).toHaveLength(1);
  const stored = (await writer.request('r.Versioned.retrieve', { id: row.id })).data;
  expect(stored.version).toBe(row.version + 1);
  expect(result.data).toEqual(stored);
  await settle(100);
  expect(updates('Versioned', row.id).map((p) => p.data)).toEqual([stored]);
  // The version check still holds: the old version is refused.
  expect((await writer.request('r.Versioned.update', { id: row.id, value: 3, version: row.version })).error?.code).toBe('conflict');
});

it('an entity the application listens to is still saved through TypeORM: its subscriber sees the row before and after', async () => {
  const row = await t.dataSource.getRepository(Heard).save({ tenant: 'acme', value: 1 });
  const reply = await writer.request('r.Heard.update', { id: row.id, value: 2 });
  expect(reply.data).toEqual({ id: row.id, tenant: 'acme', value: 2 });
  expect(audit.seen).toEqual([{ before: 1, after: 2 }]);
  await settle(100);
  expect(updates('Heard', row.id).map((p) => p.data)).toEqual([reply.data]);
});
