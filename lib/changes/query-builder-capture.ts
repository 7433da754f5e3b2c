import { DeleteQueryBuilder, InsertQueryBuilder, UpdateQueryBuilder, type DataSource, type QueryRunner } from 'typeorm';
import { SoftDeleteQueryBuilder } from 'typeorm/query-builder/SoftDeleteQueryBuilder.js';
import type { EntityChange } from '../rows/entity-change.js';

/**
 * What the statement wrapper asks of the change capture of a DataSource. QueryBuilder
 * update and delete tell subscribers nothing about the rows they touched (see
 * SETUP-NOTES), so the wrapper reads them around the statement, on its connection.
 */
export interface StatementObserver {
  /** Whether statements on this entity are captured. */
  captures(target: Function | string): boolean;
  /** Reads the rows the statement is about to touch. */
  before(qb: any, runner: QueryRunner): Promise<unknown>;
  /** The statement's changes, once it has run. */
  after(kind: StatementKind, qb: any, runner: QueryRunner, before: unknown): Promise<EntityChange[]>;
  /** Whether the database will change rows of bound entities through foreign-key actions of this statement (cascades.ts). */
  cascades(kind: StatementKind, qb: any): boolean;
  /** Reads the rows those actions are about to change. */
  beforeCascades(kind: StatementKind, qb: any, runner: QueryRunner): Promise<unknown>;
  /** Their changes, once the statement has run. */
  afterCascades(runner: QueryRunner, before: unknown): Promise<EntityChange[]>;
  /** Records one statement's changes together: outside a transaction they are one commit (one live-list frame). */
  record(runner: QueryRunner, ...changes: EntityChange[]): void;
  /** Until `endStatement`, what subscribers record on `runner` outside a transaction is kept back, to be one commit. */
  beginStatement(runner: QueryRunner): void;
  endStatement(runner: QueryRunner): void;
}

export type StatementKind = 'update' | 'delete' | 'soft-delete' | 'restore';

const observers = new WeakMap<DataSource, StatementObserver>();
const WRAPPED = Symbol.for('nest-bindings:statement-capture');

/** Starts capturing QueryBuilder update/delete statements of `dataSource`. */
export function observeStatements(dataSource: DataSource, observer: StatementObserver): void {
  wrap(UpdateQueryBuilder.prototype, () => 'update');
  wrap(DeleteQueryBuilder.prototype, () => 'delete');
  wrap(SoftDeleteQueryBuilder.prototype, (qb) => (qb.expressionMap.queryType === 'restore' ? 'restore' : 'soft-delete'));
  wrapInsert(InsertQueryBuilder.prototype);
  observers.set(dataSource, observer);
}

export function stopObservingStatements(dataSource: DataSource): void {
  observers.delete(dataSource);
}

/**
 * Wraps `execute` once per process. The rows of statements with `callListeners(false)` are
 * left alone: TypeORM's own save/remove use those internally and report through subscribers,
 * and an application may use the flag to opt a statement out of pushes. Their cascades are
 * not: no subscriber hears of rows the database changes, whichever statement caused it.
 */
function wrap(prototype: any, kindOf: (qb: any) => StatementKind): void {
  replaceExecute(
    prototype,
    (execute) =>
      async function capturedExecute(this: any) {
        const observer = observers.get(this.dataSource);
        const map = this.expressionMap;
        if (!observer || !map.mainAlias?.hasMetadata) return execute.call(this);
        const kind = kindOf(this);
        const own = map.callListeners === true && observer.captures(map.mainAlias.metadata.target);
        const cascades = observer.cascades(kind, this);
        if (!own && !cascades) return execute.call(this);
        // One connection for the reads around the statement and the statement itself.
        return onOneConnection(this, async (runner) => {
          const before = own ? await observer.before(this, runner) : undefined;
          const cascaded = cascades ? await observer.beforeCascades(kind, this, runner) : undefined;
          const result = await execute.call(this);
          const changes = own ? await observer.after(kind, this, runner, before) : [];
          if (cascades) changes.push(...(await observer.afterCascades(runner, cascaded)));
          observer.record(runner, ...changes);
          return result;
        });
      },
  );
}

/**
 * A multi-row `insert([...])` is one statement, but TypeORM reports its rows to subscribers
 * one `afterInsert` at a time: outside a transaction each would be a commit of its own, and a
 * live list would show the statement half done. The wrapper gives the statement a connection
 * of its own and has the capture publish its rows together once it has returned.
 */
function wrapInsert(prototype: any): void {
  replaceExecute(
    prototype,
    (execute) =>
      async function capturedInsert(this: any) {
        const observer = observers.get(this.dataSource);
        const map = this.expressionMap;
        if (!observer || map.callListeners !== true || !map.mainAlias?.hasMetadata || !observer.captures(map.mainAlias.metadata.target)) {
          return execute.call(this);
        }
        return onOneConnection(this, async (runner) => {
          observer.beginStatement(runner);
          try {
            return await execute.call(this);
          } finally {
            observer.endStatement(runner);
          }
        });
      },
  );
}

/** Replaces `execute` of a QueryBuilder prototype, once (`wrapped` gets the original). */
function replaceExecute(prototype: any, wrapped: (execute: (this: any) => Promise<any>) => (this: any) => Promise<any>): void {
  if (prototype[WRAPPED]) return;
  const execute = prototype.execute;
  prototype[WRAPPED] = true;
  prototype.execute = wrapped(execute);
}

/** Runs `work` on the statement's connection; when it has none, on one of its own, released afterwards. */
async function onOneConnection<T>(qb: any, work: (runner: QueryRunner) => Promise<T>): Promise<T> {
  const ownRunner = !qb.queryRunner;
  const runner: QueryRunner = qb.queryRunner ?? qb.dataSource.createQueryRunner();
  qb.queryRunner = runner;
  try {
    return await work(runner);
  } finally {
    if (ownRunner) {
      qb.queryRunner = undefined;
      await runner.release();
    }
  }
}
