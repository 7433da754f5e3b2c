import { Injectable } from '@nestjs/common';
import { BindingRegistry } from '../registry/binding.registry.js';

/**
 * Where the reads run whose filter holds a pattern (`like`, `ilike`, a search `q`): the
 * database spends text length × pattern length on every row they scan, even with the
 * patterns bounded (limits.patternLength, limits.patternTotal). On SQLite a query blocks the
 * event loop, so they run one at a time, each after a turn of the event loop: other sockets
 * are served between two of them, whatever one user sends at once. On PostgreSQL at most a
 * quarter of the pool runs them, so the other requests always find a connection. Waiting
 * reads are served round-robin by caller (the user, or the socket of an anonymous one): a
 * burst of one caller does not make the others wait behind all of it.
 */
@Injectable()
export class PatternReads {
  /** Waiting reads per caller; Map order is the round-robin order. */
  private readonly waiting = new Map<unknown, Array<() => void>>();
  private running = 0;

  constructor(private readonly registry: BindingRegistry) {}

  run<T>(caller: unknown, read: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () =>
        read()
          .then(resolve, reject)
          .finally(() => {
            this.running--;
            this.next();
          });
      const queue = this.waiting.get(caller);
      if (queue) queue.push(start);
      else this.waiting.set(caller, [start]);
      this.next();
    });
  }

  private get concurrency(): number {
    if (this.registry.dialect === 'sqlite') return 1;
    const options = this.registry.dataSource.options as { poolSize?: number; extra?: { max?: number } };
    return Math.max(1, Math.floor((options.poolSize ?? options.extra?.max ?? 10) / 4)); // node-postgres pools 10 by default
  }

  private next(): void {
    while (this.running < this.concurrency && this.waiting.size > 0) {
      const [caller, queue] = this.waiting.entries().next().value!;
      const start = queue.shift()!;
      // The caller goes to the back of the round.
      this.waiting.delete(caller);
      if (queue.length > 0) this.waiting.set(caller, queue);
      this.running++;
      // setImmediate runs after the pending I/O: pings and other requests get their turn first.
      setImmediate(start);
    }
  }
}
