import { Logger } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';

const INSTALLED = Symbol.for('nest-bindings:sqlite-connection-lock');
/** A statement that waits this long for another runner's transaction is logged once (it may be a deadlock). */
const WAIT_WARNING_MS = 10_000;

type Runner = QueryRunner & { transactionDepth: number; stmtCache?: Map<string, unknown> };

/**
 * Who may use the one better-sqlite3 connection. A runner that opens a transaction owns it
 * until its outermost commit or rollback; meanwhile a statement of any other runner (an
 * autocommit write, another request's read, another transaction's BEGIN) waits. Statements
 * outside transactions run together (they are synchronous in the driver), but a
 * transaction starts only once those already running have returned.
 */
class ConnectionLock {
  owner: Runner | undefined;
  private running = 0;
  private readonly queue: Array<{ exclusive: boolean; grant: () => void }> = [];

  constructor(private readonly logger: Logger) {}

  async statement<T>(work: () => Promise<T>): Promise<T> {
    if (this.owner === undefined && this.queue.length === 0) this.running++;
    else await this.wait(false, 'A statement');
    try {
      return await work();
    } finally {
      this.running--;
      this.pump();
    }
  }

  async acquire(runner: Runner): Promise<void> {
    if (this.owner === undefined && this.running === 0 && this.queue.length === 0) this.owner = runner;
    else await this.wait(true, 'A transaction', runner);
  }

  release(runner: Runner): void {
    if (this.owner !== runner) return;
    this.owner = undefined;
    this.pump();
  }

  reset(): void {
    this.owner = undefined;
    this.pump();
  }

  private wait(exclusive: boolean, what: string, runner?: Runner): Promise<void> {
    return new Promise<void>((resolve) => {
      // A statement issued outside the EntityManager of a transaction that is itself
      // waiting for it never runs: say so instead of hanging silently.
      const timer = setTimeout(
        () => this.logger.warn(`${what} has waited ${WAIT_WARNING_MS / 1000} s for an open SQLite transaction. Inside a transaction, use the EntityManager it passes (or event.manager in a subscriber), not the DataSource: SQLite has one connection.`),
        WAIT_WARNING_MS,
      );
      timer.unref();
      this.queue.push({
        exclusive,
        grant: () => {
          clearTimeout(timer);
          if (exclusive) this.owner = runner;
          else this.running++;
          resolve();
        },
      });
    });
  }

  private pump(): void {
    while (this.owner === undefined && this.queue.length > 0) {
      const next = this.queue[0];
      if (next.exclusive && this.running > 0) return;
      this.queue.shift();
      next.grant();
      if (next.exclusive) return;
    }
  }
}

/**
 * TypeORM's better-sqlite3 driver hands every caller one shared query runner, so a
 * transaction left open across an `await` silently takes in every statement other code
 * issues meanwhile (another request's write joins it and is rolled back with it; a read
 * sees its uncommitted rows). Each caller gets its own runner here (sharing one
 * statement cache), and the connection lock makes other runners wait for the open
 * transaction, as other connections would on PostgreSQL (reads too: SQLite has no second
 * connection to read the committed state from).
 */
export function isolateSqliteTransactions(dataSource: DataSource, logger: Logger): boolean {
  if (dataSource.options.type !== 'better-sqlite3') return false;
  const driver = dataSource.driver as any;
  if (driver[INSTALLED]) return true;
  const Runner = driver.createQueryRunner('master').constructor as new (driver: unknown) => Runner;
  const proto = Runner.prototype as any;
  const statements = new Map<string, unknown>();
  const lock = new ConnectionLock(logger);

  driver.createQueryRunner = () => {
    const runner = new Runner(driver);
    if (runner.stmtCache) runner.stmtCache = statements;
    const own = runner as any;
    own.query = (...args: unknown[]) => (lock.owner === runner ? proto.query.apply(runner, args) : lock.statement(() => proto.query.apply(runner, args)));
    own.startTransaction = async (...args: unknown[]) => {
      const outermost = runner.transactionDepth === 0 && lock.owner !== runner;
      if (outermost) await lock.acquire(runner);
      try {
        await proto.startTransaction.apply(runner, args);
      } catch (error) {
        if (!runner.isTransactionActive) lock.release(runner);
        throw error;
      }
    };
    for (const method of ['commitTransaction', 'rollbackTransaction']) {
      own[method] = async (...args: unknown[]) => {
        try {
          await proto[method].apply(runner, args);
        } finally {
          if (!runner.isTransactionActive) lock.release(runner);
        }
      };
    }
    own.release = async () => {
      if (lock.owner === runner) {
        // Released with its transaction still open: undo it rather than leave the connection inside it.
        try {
          await proto.query.call(runner, 'ROLLBACK');
        } catch {
          // no transaction was open on the connection after all
        }
        own.isTransactionActive = false;
        runner.transactionDepth = 0;
        lock.release(runner);
      }
      return proto.release.call(runner);
    };
    return runner;
  };

  // Prepared statements belong to the connection: a new connection starts a new cache.
  const disconnect = driver.disconnect.bind(driver);
  driver.disconnect = async () => {
    statements.clear();
    lock.reset();
    return disconnect();
  };
  driver[INSTALLED] = true;
  return true;
}
