import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { ChangeCapture } from '../changes/change-capture.js';
import { BindingRegistry } from '../registry/binding.registry.js';

/** Most writes committed together on SQLite: each waits for the whole group before it answers. */
const MAX_GROUP = 64;
/** The savepoint each write of a group runs under (TypeORM's own are named typeorm_<depth>). */
const SAVEPOINT = 'nest_bindings_write';

interface Waiting {
  work: (manager: EntityManager) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs a write in its own transaction. On PostgreSQL each transaction has its own pooled
 * connection. On better-sqlite3 the connection lock (registry/sqlite-connection-lock) gives
 * a transaction the one connection to itself, so writes run one after another anyway and
 * each COMMIT waits for the disk: the writes waiting together are committed in one
 * transaction (group commit), and each answers, and pushes, once it has committed.
 *
 * Each write of a group runs under an SQL savepoint of its own: a write that fails is rolled
 * back to it (the changes it recorded are dropped from the capture) and gets its error at
 * once, and the others of the group go on; none runs twice, so a user sending failing
 * writes costs the others nothing. Each write is stored exactly when it answers success.
 * The savepoints are plain SQL, not TypeORM's nested transactions, so the application's
 * subscribers see one transaction per group (one commit), not one per write.
 * Other SQLite drivers share one query
 * runner, where two concurrent transactions would nest as savepoints of each other:
 * writes of the bindings are queued one after another there.
 */
@Injectable()
export class WriteGate {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly waiting: Waiting[] = [];
  private committing = false;

  constructor(
    private readonly registry: BindingRegistry,
    private readonly capture: ChangeCapture,
  ) {}

  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const transaction = () => this.registry.dataSource.transaction(work);
    if (this.registry.dialect === 'sqlite' && this.registry.isolatedTransactions) return this.grouped(work);
    if (this.registry.isolatedTransactions) return transaction();
    const result = this.tail.then(transaction, transaction);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private grouped<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.committing) return;
      this.committing = true;
      // Started once the frames read in this turn of the event loop have reached here too:
      // the driver is synchronous, so a group started at once would hold only this write.
      setImmediate(() => void this.commitGroups());
    });
  }

  /** Commits the waiting writes, group after group, until none is left. */
  private async commitGroups(): Promise<void> {
    try {
      while (this.waiting.length > 0) await this.commitGroup(this.waiting.splice(0, MAX_GROUP));
    } finally {
      this.committing = false;
    }
  }

  private async commitGroup(group: Waiting[]): Promise<void> {
    const runner = this.registry.dataSource.createQueryRunner();
    const done: [Waiting, unknown][] = [];
    try {
      await runner.startTransaction();
      for (const write of group) {
        const mark = this.capture.mark(runner);
        await runner.query(`SAVEPOINT ${SAVEPOINT}`);
        try {
          const result = await write.work(runner.manager);
          await runner.query(`RELEASE ${SAVEPOINT}`);
          done.push([write, result]);
        } catch (error) {
          await runner.query(`ROLLBACK TO ${SAVEPOINT}`);
          await runner.query(`RELEASE ${SAVEPOINT}`);
          this.capture.dropSince(runner, mark);
          write.reject(error);
        }
      }
      await runner.commitTransaction();
      for (const [write, result] of done) write.resolve(result);
    } catch (error) {
      // The transaction itself failed (no connection, a failed COMMIT or savepoint): nothing of
      // it is stored, and every write not answered yet fails (a promise settles once).
      while (runner.isTransactionActive)
        if (
          !(await runner.rollbackTransaction().then(
            () => true,
            () => false,
          ))
        )
          break;
      for (const write of group) write.reject(error);
    } finally {
      await runner.release();
    }
  }
}
