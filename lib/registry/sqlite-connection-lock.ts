import type { DataSource, QueryRunner } from 'typeorm';

const INSTALLED = Symbol.for('nest-bindings:sqlite-connection-lock');
const READ_NOW = Symbol.for('nest-bindings:sqlite-read-now');

/** Rows of a SELECT read at once on the free connection, or undefined when it must take the usual path. */
export type ReadNow = (sql: string, params: readonly unknown[]) => Array<Record<string, unknown>> | undefined;

/** A prepared statement of better-sqlite3, as far as a read needs it. */
interface Statement {
  reader: boolean;
  all(...params: unknown[]): Array<Record<string, unknown>>;
}

type Runner = QueryRunner & { transactionDepth: number };
/** What the driver's runner class offers (its methods are called through `super`). */
interface RunnerBase extends Runner {
  stmtCache?: Map<string, unknown>;
  query(...args: unknown[]): Promise<any>;
  startTransaction(...args: unknown[]): Promise<void>;
}

/**
 * Who may use the one better-sqlite3 connection. A runner that opens a transaction owns it
 * until the connection leaves that transaction (its outermost COMMIT or ROLLBACK);
 * meanwhile a statement of any other runner (an autocommit write, another request's read,
 * another transaction's BEGIN) waits. Statements outside transactions run together (they
 * are synchronous in the driver), but a transaction starts only once those already
 * running have returned. A wait is bounded like SQLite's own wait for a locked database
 * (the driver's `timeout`, 5 s by default): past it the statement fails with
 * "database is locked", so a statement that the open transaction itself is waiting for
 * (issued through the DataSource instead of the transaction's EntityManager) fails
 * instead of hanging.
 */
class ConnectionLock {
  owner: Runner | undefined;
  private running = 0;
  readonly queue: Array<{ exclusive: boolean; grant: () => void }> = [];

  constructor(private readonly busyTimeout: () => number) {}

  async statement<T>(work: () => Promise<T>): Promise<T> {
    if (this.owner === undefined && this.queue.length === 0) this.running++;
    else await this.wait(false);
    try {
      return await work();
    } finally {
      this.running--;
      this.pump();
    }
  }

  async acquire(runner: Runner): Promise<void> {
    if (this.owner === undefined && this.running === 0 && this.queue.length === 0) this.owner = runner;
    else await this.wait(true, runner);
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

  private wait(exclusive: boolean, runner?: Runner): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        exclusive,
        grant: () => {
          clearTimeout(timer);
          if (exclusive) this.owner = runner;
          else this.running++;
          resolve();
        },
      };
      const ms = this.busyTimeout();
      const timer = setTimeout(() => {
        const index = this.queue.indexOf(waiter);
        if (index < 0) return;
        this.queue.splice(index, 1);
        this.pump();
        reject(
          new Error(
            `database is locked: waited ${ms} ms for a transaction open on the SQLite connection. ` +
              'Inside a transaction, use the EntityManager it passes (event.manager in a subscriber), not the DataSource: SQLite has one connection.',
          ),
        );
      }, ms);
      this.queue.push(waiter);
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
export function isolateSqliteTransactions(dataSource: DataSource): boolean {
  if (dataSource.options.type !== 'better-sqlite3') return false;
  const driver = dataSource.driver as any;
  if (driver[INSTALLED]) return true;
  const Base = driver.createQueryRunner('master').constructor as new (driver: unknown) => RunnerBase;
  const statements = new Map<string, unknown>();
  const lock = new ConnectionLock(() => (typeof driver.options.timeout === 'number' ? driver.options.timeout : 5000));

  const inTransaction = (): boolean => Boolean(driver.databaseConnection?.inTransaction);

  // The driver's own runner class, with the lock around what touches the connection.
  class IsolatedRunner extends Base {
    constructor() {
      super(driver);
      if (this.stmtCache) this.stmtCache = statements;
    }

    async query(...args: unknown[]): Promise<any> {
      if (lock.owner !== this) return lock.statement(() => super.query(...args));
      try {
        return await super.query(...args);
      } finally {
        // Free the connection as soon as it has left the transaction: TypeORM tells the
        // subscribers about the commit only afterwards, and they may query through the DataSource.
        if ((args[0] === 'COMMIT' || args[0] === 'ROLLBACK') && !inTransaction()) lock.release(this);
      }
    }

    async startTransaction(...args: unknown[]): Promise<void> {
      const outermost = this.transactionDepth === 0 && lock.owner !== this;
      if (outermost) await lock.acquire(this);
      try {
        await super.startTransaction(...args);
      } catch (error) {
        if (outermost && !inTransaction()) lock.release(this);
        throw error;
      }
    }

    async commitTransaction(): Promise<void> {
      try {
        await super.commitTransaction();
      } finally {
        if (!this.isTransactionActive || !inTransaction()) lock.release(this);
      }
    }

    async rollbackTransaction(): Promise<void> {
      try {
        await super.rollbackTransaction();
      } finally {
        if (!this.isTransactionActive || !inTransaction()) lock.release(this);
      }
    }

    async release(): Promise<void> {
      if (lock.owner === this) {
        // Released with its transaction still open: undo it rather than leave the connection inside it.
        try {
          await super.query('ROLLBACK');
        } catch {
          // no transaction was open on the connection after all
        }
        (this as any).isTransactionActive = false;
        this.transactionDepth = 0;
        lock.release(this);
      }
      return super.release();
    }
  }
  driver.createQueryRunner = () => new IsolatedRunner();

  // A read outside any transaction needs none of a runner's asynchronous steps: better-sqlite3
  // answers synchronously. It runs at once when the connection is free, with a statement the
  // usual path prepared earlier, logged as TypeORM logs it. Whatever the usual path would do
  // differently (a transaction holds or awaits the connection, query events, slow-query timing,
  // a statement not prepared yet, an error to wrap) is left to it.
  const readNow: ReadNow = (sql, params) => {
    if (lock.owner !== undefined || lock.queue.length > 0 || inTransaction()) return undefined;
    if (driver.options.maxQueryExecutionTime || dataSource.subscribers.some((s: any) => s.beforeQuery || s.afterQuery)) return undefined;
    const statement = statements.get(sql) as Statement | undefined;
    if (!statement?.reader) return undefined;
    const values = params.map((p) => (typeof p === 'boolean' ? Number(p) : p));
    dataSource.logger.logQuery(sql, values);
    try {
      return statement.all(...values);
    } catch {
      return undefined;
    }
  };
  driver[READ_NOW] = readNow;

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

/** The direct read of a better-sqlite3 DataSource whose transactions are isolated here; undefined for any other. */
export function sqliteReadNow(dataSource: DataSource): ReadNow | undefined {
  return dataSource.options.type === 'better-sqlite3' ? (dataSource.driver as any)[READ_NOW] : undefined;
}
