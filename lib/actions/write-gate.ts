import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { BindingRegistry } from '../registry/binding.registry.js';

/** Most writes committed together on SQLite: each waits for the whole group before it answers. */
const MAX_GROUP = 64;

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
 * A write that fails rolls the whole group back (subscribers see a rollback, as for any
 * failed transaction) and gets its error; the writes that ran before it in the group run
 * again, alone, in the next transaction, and those after it wait for the one after. So
 * each write is stored exactly when it answers success, and one failing write makes at
 * most the writes before it in its group run twice. Other SQLite drivers share one query
 * runner, where two concurrent transactions would nest as savepoints of each other:
 * writes of the bindings are queued one after another there.
 */
@Injectable()
export class WriteGate {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly waiting: Waiting[] = [];
  /** Writes of a group that was rolled back because of another write: they run next, by themselves. */
  private again: Waiting[] = [];
  private committing = false;

  constructor(private readonly registry: BindingRegistry) {}

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
      while (this.again.length > 0 || this.waiting.length > 0) {
        const group = this.again.length > 0 ? this.again.splice(0) : this.waiting.splice(0, MAX_GROUP);
        await this.commitGroup(group);
      }
    } finally {
      this.committing = false;
    }
  }

  private async commitGroup(group: Waiting[]): Promise<void> {
    const runner = this.registry.dataSource.createQueryRunner();
    try {
      try {
        await runner.startTransaction();
      } catch (error) {
        // No transaction (the connection stayed locked by another): each write fails as its own would have.
        for (const write of group) write.reject(error);
        return;
      }
      const results: unknown[] = [];
      for (const [i, write] of group.entries()) {
        try {
          results.push(await write.work(runner.manager));
        } catch (error) {
          if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
          write.reject(error);
          this.again = group.slice(0, i);
          this.waiting.unshift(...group.slice(i + 1));
          return;
        }
      }
      try {
        await runner.commitTransaction();
      } catch (error) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        for (const write of group) write.reject(error);
        return;
      }
      group.forEach((write, i) => write.resolve(results[i]));
    } finally {
      await runner.release();
    }
  }
}
