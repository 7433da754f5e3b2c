import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { BindingRegistry } from '../registry/binding.registry.js';

/**
 * Runs a write in its own transaction. On PostgreSQL each transaction has its own pooled
 * connection, and on better-sqlite3 the connection lock (registry/sqlite-connection-lock)
 * gives it the connection to itself. Other SQLite drivers share one query runner, where
 * two concurrent transactions would nest as savepoints of each other: writes of the
 * bindings are queued one after another there.
 */
@Injectable()
export class WriteGate {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly registry: BindingRegistry) {}

  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const transaction = () => this.registry.dataSource.transaction(work);
    if (this.registry.isolatedTransactions) return transaction();
    const result = this.tail.then(transaction, transaction);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
