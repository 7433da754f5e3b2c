import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type {
  EntitySubscriberInterface,
  InsertEvent,
  QueryRunner,
  RecoverEvent,
  RemoveEvent,
  SoftRemoveEvent,
  TransactionCommitEvent,
  TransactionRollbackEvent,
  UpdateEvent,
} from 'typeorm';
import { RowStore } from '../rows/row-store.js';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import { BindingRegistry } from '../registry/binding.registry.js';
import { ChangeSink, commitOrLog } from './change-sink.js';
import type { EntityChange, Row } from '../rows/entity-change.js';
import { Cascades, type CascadeRead } from './cascades.js';
import { observeStatements, stopObservingStatements, type StatementKind, type StatementObserver } from './query-builder-capture.js';

interface Held {
  depth: number;
  change: EntityChange;
}

/**
 * Captures every change of a bound entity made through TypeORM and publishes it only
 * once it is committed. Changes made inside a transaction are held on the query runner
 * that made them, published on the outermost commit and dropped on rollback (of the
 * transaction, or of the savepoint they were made under). Outside a transaction a change
 * is published as soon as its statement has returned.
 */
@Injectable()
export class ChangeCapture implements EntitySubscriberInterface, StatementObserver, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('BindingsModule');
  private readonly held = new WeakMap<QueryRunner, Held[]>();
  /** Changes of a statement still running outside a transaction (a multi-row insert), published together at its end. */
  private readonly statements = new WeakMap<QueryRunner, { depth: number; changes: EntityChange[] }>();
  private readonly cascading: Cascades;

  constructor(
    private readonly registry: BindingRegistry,
    private readonly store: RowStore,
    private readonly bus: ChangeSink,
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
  ) {
    this.cascading = new Cascades(registry, store);
  }

  onModuleInit(): void {
    // With capture: 'database' every change comes from the outbox (changes/database), this one included.
    if (this.options.capture.mode === 'database') return;
    this.registry.dataSource.subscribers.push(this);
    observeStatements(this.registry.dataSource, this);
  }

  onModuleDestroy(): void {
    const subscribers = this.registry.dataSource.subscribers;
    const index = subscribers.indexOf(this);
    if (index >= 0) subscribers.splice(index, 1);
    stopObservingStatements(this.registry.dataSource);
  }

  // --- repository / manager save, insert, remove, softRemove, recover (subscriber hooks) ---

  async afterInsert(event: InsertEvent<any>): Promise<void> {
    const binding = this.bindingOf(event.metadata.target);
    if (!binding || !event.entity) return;
    const id = event.entity[binding.primary.propertyName];
    if (id === undefined || id === null) return; // insert().updateEntity(false): the id is unknown
    const after = await this.complete(binding, event.entity, id, event.queryRunner);
    if (after) this.record(event.queryRunner, { binding, kind: 'created', id, after });
  }

  async afterUpdate(event: UpdateEvent<any>): Promise<void> {
    const binding = this.bindingOf(event.metadata.target);
    // Without databaseEntity the event came from a QueryBuilder statement, captured by the wrapper.
    if (!binding || !event.databaseEntity || !event.entity) return;
    const id = event.databaseEntity[binding.primary.propertyName];
    const after = await this.complete(binding, { ...event.databaseEntity, ...definedOnly(event.entity) }, id, event.queryRunner);
    if (after) this.recordUpdate(event.queryRunner, binding, this.pick(binding, event.databaseEntity), after);
  }

  afterRemove(event: RemoveEvent<any>): void {
    this.recordDelete(event);
  }

  afterSoftRemove(event: SoftRemoveEvent<any>): void {
    this.recordDelete(event);
  }

  async afterRecover(event: RecoverEvent<any>): Promise<void> {
    const binding = this.bindingOf(event.metadata.target);
    if (!binding || !event.databaseEntity) return;
    const id = event.databaseEntity[binding.primary.propertyName];
    const after = await this.store.findById(binding, id, undefined, event.queryRunner.manager);
    if (after) this.record(event.queryRunner, { binding, kind: 'created', id, after });
  }

  /**
   * Whether a save of `binding` is heard by anything besides this capture: an entity listener
   * (`@BeforeUpdate`, `@AfterUpdate`) or another subscriber with update hooks for it. Only then
   * must an update go through `save`, whose events they expect; otherwise the actions write
   * it with one UPDATE and hand its change to `recordUpdateOf`.
   */
  hasUpdateListeners(binding: BindingDefinition): boolean {
    const metadata = binding.metadata;
    if (metadata.beforeUpdateListeners.length || metadata.afterUpdateListeners.length) return true;
    return this.registry.dataSource.subscribers.some((subscriber: EntitySubscriberInterface) => {
      if (subscriber === this || !(subscriber.beforeUpdate || subscriber.afterUpdate)) return false;
      const target = subscriber.listenTo?.();
      // Anything but a class other than the entity's (and not a parent of it) counts as listening.
      if (typeof target !== 'function' || target === Object) return true;
      return target === metadata.target || (typeof metadata.target === 'function' && metadata.target.prototype instanceof target);
    });
  }

  /**
   * Records the update of one row whose before and after states the writer knows (it read the
   * row in the transaction and wrote it with a statement opted out of capture). With capture:
   * 'database' the outbox has it already.
   */
  recordUpdateOf(runner: QueryRunner, binding: BindingDefinition, before: Row, after: Row): void {
    if (this.options.capture.mode === 'database') return;
    this.recordUpdate(runner, binding, this.pick(binding, before), this.pick(binding, after));
  }

  // --- transactions ---

  afterTransactionCommit(event: TransactionCommitEvent): void {
    const runner = event.queryRunner;
    const held = this.held.get(runner);
    if (!held) return;
    if (runner.isTransactionActive) {
      // A savepoint released inside an outer transaction is not a commit yet, but its changes
      // now belong to the level it was released into: a later savepoint rolled back at the
      // level it had must not drop them.
      const depth = (runner as any).transactionDepth ?? 1;
      for (const entry of held) if (entry.depth > depth) entry.depth = depth;
      return;
    }
    this.held.delete(runner);
    this.publish(held.map(({ change }) => change));
  }

  /**
   * How many changes `runner` holds now: with `dropSince`, lets a caller that rolls back to a
   * savepoint of its own (SQL `SAVEPOINT`, which TypeORM does not see) drop what was
   * recorded after it.
   */
  mark(runner: QueryRunner): number {
    return this.held.get(runner)?.length ?? 0;
  }

  /** Drops the changes `runner` recorded since `mark`: the statements that made them were rolled back. */
  dropSince(runner: QueryRunner, mark: number): void {
    const held = this.held.get(runner);
    if (held && held.length > mark) held.length = mark;
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    const runner = event.queryRunner;
    const held = this.held.get(runner);
    if (!held) return;
    const depth = runner.isTransactionActive ? ((runner as any).transactionDepth ?? 0) : 0;
    const kept = held.filter((h) => h.depth <= depth);
    if (kept.length) this.held.set(runner, kept);
    else this.held.delete(runner);
  }

  // --- QueryBuilder update / delete / softDelete / restore (statement wrapper) ---

  captures(target: Function | string): boolean {
    return this.bindingOf(target) !== undefined;
  }

  async before(qb: any, runner: QueryRunner): Promise<Row[]> {
    const binding = this.bindingOf(qb.expressionMap.mainAlias.metadata.target)!;
    // The statement's own WHERE, rendered by TypeORM without table aliases as for the
    // UPDATE/DELETE itself, selects exactly the rows it is about to touch. getQuery() maps
    // property names to escaped column names over the whole statement afterwards; the WHERE
    // alone must get the same mapping, or `{ unitPrice }` (column unit_price) or a column
    // named like a keyword (`order`) breaks the application's statement.
    const where: string = qb.replacePropertyNamesForTheWholeQuery(qb.createWhereExpression());
    const [sql, params] = this.registry.dataSource.driver.escapeQueryWithParameters(`${binding.sql.selectAll}${where}`, qb.getParameters());
    return this.store.hydrateAll(binding, await runner.query(sql, params));
  }

  async after(kind: StatementKind, qb: any, runner: QueryRunner, before: unknown): Promise<EntityChange[]> {
    const binding = this.bindingOf(qb.expressionMap.mainAlias.metadata.target)!;
    const deleteDate = binding.deleteDateColumn?.propertyName;
    const pk = binding.primary.propertyName;
    const visible = (row: Row) => !deleteDate || row[deleteDate] === null || row[deleteDate] === undefined;
    const rows = before as Row[];
    // The wrapper records a statement's changes (its own and its cascades') together.
    const changes: EntityChange[] = [];
    if (kind === 'delete' || kind === 'soft-delete') {
      for (const row of rows) if (visible(row)) changes.push({ binding, kind: 'deleted', id: row[pk] as string | number, before: row });
      return changes;
    }
    const touched = kind === 'restore' ? rows.filter((row) => !visible(row)) : rows;
    const now = new Map(
      (
        await this.store.findByIds(
          binding,
          touched.map((row) => row[pk] as string | number),
          runner.manager,
        )
      ).map((row) => [row[pk], row]),
    );
    for (const row of touched) {
      const after = now.get(row[pk]);
      if (!after) continue;
      if (kind === 'restore') changes.push({ binding, kind: 'created', id: after[pk] as string | number, after });
      else if (visible(row)) changes.push(...this.updateChange(binding, row, after));
    }
    return changes;
  }

  beginStatement(runner: QueryRunner): void {
    const statement = this.statements.get(runner);
    // An insert made by a subscriber of the application while the first one runs joins it.
    if (statement) statement.depth++;
    else if (!runner.isTransactionActive) this.statements.set(runner, { depth: 1, changes: [] });
  }

  endStatement(runner: QueryRunner): void {
    const statement = this.statements.get(runner);
    if (!statement || --statement.depth > 0) return;
    this.statements.delete(runner);
    if (statement.changes.length) this.publish(statement.changes);
  }

  // --- rows the database changes through foreign-key actions (cascades.ts) ---

  cascades(kind: StatementKind, qb: any): boolean {
    return this.cascading.affects(kind, qb);
  }

  beforeCascades(kind: StatementKind, qb: any, runner: QueryRunner): Promise<CascadeRead> {
    return this.cascading.before(kind, qb, runner);
  }

  async afterCascades(runner: QueryRunner, read: unknown): Promise<EntityChange[]> {
    const { deleted, updated } = await this.cascading.after(read as CascadeRead, runner);
    const changes: EntityChange[] = [];
    for (const { binding, before } of deleted) changes.push({ binding, kind: 'deleted', id: before[binding.primary.propertyName] as string | number, before });
    for (const { binding, before, after } of updated) changes.push(...this.updateChange(binding, before, after));
    return changes;
  }

  // --- shared ---

  private bindingOf(target: Function | string): BindingDefinition | undefined {
    return this.registry.forTarget(target);
  }

  private recordDelete(event: RemoveEvent<any> | SoftRemoveEvent<any>): void {
    const binding = this.bindingOf(event.metadata.target);
    if (!binding || !event.databaseEntity) return;
    const before = this.pick(binding, event.databaseEntity);
    const id = (before[binding.primary.propertyName] ?? event.entityId) as string | number;
    this.record(event.queryRunner, { binding, kind: 'deleted', id, before });
  }

  private recordUpdate(runner: QueryRunner, binding: BindingDefinition, before: Row, after: Row): void {
    this.record(runner, ...this.updateChange(binding, before, after));
  }

  /** The update of one row, `hidden` when only excluded columns changed (see EntityChange), or none when nothing did. */
  private updateChange(binding: BindingDefinition, before: Row, after: Row): EntityChange[] {
    const changes = binding.exposed.map((c) => c.propertyName).filter((name) => !sameValue(before[name], after[name]));
    const id = after[binding.primary.propertyName] as string | number;
    if (changes.length === 0) {
      const hidden = [...binding.allFields.keys()].some((name) => !sameValue(before[name], after[name]));
      return hidden ? [{ binding, kind: 'updated', id, before, after, changes, hidden: true }] : [];
    }
    return [{ binding, kind: 'updated', id, before, after, changes }];
  }

  /** Holds changes until their transaction commits; outside one they are one commit at once. */
  record(runner: QueryRunner, ...changes: EntityChange[]): void {
    if (changes.length === 0) return;
    const now = performance.now();
    for (const change of changes) change.recordedAt ??= now;
    if (!runner.isTransactionActive) {
      const statement = this.statements.get(runner);
      if (statement) statement.changes.push(...changes);
      else this.publish(changes);
      return;
    }
    const depth = (runner as any).transactionDepth ?? 1;
    const held = this.held.get(runner);
    const entries = changes.map((change) => ({ depth, change }));
    if (held) held.push(...entries);
    else this.held.set(runner, entries);
  }

  /** Hands one commit's changes on. */
  private publish(changes: EntityChange[]): void {
    commitOrLog(this.bus, changes, this.logger);
  }

  /** The row with every column: the entity itself when it has them all, else read back. */
  private async complete(binding: BindingDefinition, entity: Row, id: unknown, runner: QueryRunner): Promise<Row | undefined> {
    const complete = binding.metadata.columns.every((c) => c.isVirtual || c.embeddedMetadata || entity[c.propertyName] !== undefined);
    if (complete) return this.pick(binding, entity);
    return this.store.findById(binding, id as string | number, undefined, runner.manager);
  }

  private pick(binding: BindingDefinition, entity: Row): Row {
    const row: Row = {};
    for (const name of binding.allFields.keys()) row[name] = entity[name];
    return row;
  }
}

function definedOnly(entity: Row): Row {
  const out: Row = {};
  for (const [key, value] of Object.entries(entity)) if (value !== undefined) out[key] = value;
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a === null || b === null || a === undefined || b === undefined) return (a ?? null) === (b ?? null);
  if (typeof a === 'object' || typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return false;
}
