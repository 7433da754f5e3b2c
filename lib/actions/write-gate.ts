import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { BindingRegistry } from '../registry/binding.registry.js';

/**
 * Runs a write in its own transaction. TypeORM shares one connection for SQLite, where
 * two concurrent transactions would nest as savepoints of each other; writes of the
 * bindings are therefore queued one after another there. PostgreSQL needs no queue.
 */
@Injectable()
export class WriteGate {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly registry: BindingRegistry) {}

  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const transaction = () => this.registry.dataSource.transaction(work);
    if (this.registry.dialect !== 'sqlite') return transaction();
    const result = this.tail.then(transaction, transaction);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
