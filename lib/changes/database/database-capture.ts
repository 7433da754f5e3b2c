import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { BINDINGS_OPTIONS } from '../../bindings.constants.js';
import type { ResolvedOptions } from '../../bindings.options.js';
import { InvalidOptionsException } from '../../exceptions/invalid-options.exception.js';
import type { BindingDefinition } from '../../registry/binding-definition.js';
import { BindingRegistry } from '../../registry/binding.registry.js';
import type { EntityChange, Row } from '../../rows/entity-change.js';
import { RowStore } from '../../rows/row-store.js';
import { ChangeSink, commitOrLog } from '../change-sink.js';
import { changesOf } from './outbox-changes.js';
import { installDatabaseCapture, isBlob } from './outbox-install.js';
import type { OutboxRow } from './outbox-names.js';
import { records } from './outbox-query.js';
import { OutboxReader } from './outbox-reader.js';
import type { OutboxSource } from './outbox-source.js';
import { PostgresOutbox } from './postgres-outbox.js';
import { SqliteOutbox } from './sqlite-outbox.js';

/** Injection token: whether the change sink reaches every instance (then one instance publishes each outbox row). */
export const SHARED_CHANGE_SINK = Symbol('nest-bindings:shared-change-sink');

/**
 * `capture: 'database'` (PROTOCOL.md section 10): installs the triggers and the outbox at
 * start-up and publishes every committed change recorded there, whoever made it. In this
 * mode the ORM capture publishes nothing (ChangeCapture stands aside), so a change made
 * through TypeORM is pushed once, from the outbox, on every instance alike.
 */
@Injectable()
export class DatabaseCapture implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('BindingsModule');
  private readonly byTable = new Map<string, BindingDefinition>();
  private reader?: OutboxReader;
  /** The database's outbox source, once started (tests look at the PostgreSQL listener through it). */
  source?: OutboxSource;

  constructor(
    private readonly registry: BindingRegistry,
    private readonly store: RowStore,
    private readonly sink: ChangeSink,
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    @Inject(SHARED_CHANGE_SINK) private readonly shared: boolean,
  ) {}

  get dataSource(): DataSource {
    return this.registry.dataSource;
  }

  async onModuleInit(): Promise<void> {
    const capture = this.options.capture;
    if (capture.mode !== 'database') return;
    const bindings = [...this.registry.all()];
    for (const binding of bindings) this.byTable.set(binding.metadata.tablePath, binding);
    try {
      await installDatabaseCapture(
        this.dataSource,
        bindings.map((b) => b.metadata),
      );
    } catch (error) {
      throw new InvalidOptionsException(
        'capture',
        `is 'database', but its triggers and outbox could not be installed (${(error as Error)?.message ?? error})`,
        'The database user must own the bound tables (run migrations first) and may create a table and, on PostgreSQL, a function; see the README, "Capture in the database".',
      );
    }
    this.source = this.registry.dialect === 'postgres' ? new PostgresOutbox(this.dataSource, this.logger) : new SqliteOutbox(this.dataSource);
    this.reader = new OutboxReader(
      this.dataSource,
      this.source,
      { pollInterval: capture.pollInterval, shared: this.shared, deliver: (rows) => this.deliver(rows) },
      this.logger,
    );
    await this.reader.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.reader?.stop();
  }

  /**
   * Publishes the changes of one read as one commit, in outbox order. Transactions read
   * together form one commit for live lists (they never see half of one, unless a transaction
   * is larger than a read: 500 rows or 4 MiB of states).
   */
  private async deliver(rows: OutboxRow[]): Promise<void> {
    const states = await this.hydrate(rows);
    const changes: EntityChange[] = [];
    for (const row of rows) {
      const binding = this.byTable.get(row.table);
      const state = states.get(row);
      if (!binding || !state) continue; // a table another service binds, or states that could not be read
      changes.push(...changesOf(binding, state.before, state.after));
    }
    if (changes.length) commitOrLog(this.sink, changes, this.logger);
  }

  /** The before and after state of each row, hydrated by the driver exactly as a read of the table would. */
  private async hydrate(rows: OutboxRow[]): Promise<Map<OutboxRow, { before?: Row; after?: Row }>> {
    const out = new Map<OutboxRow, { before?: Row; after?: Row }>();
    const byBinding = new Map<BindingDefinition, OutboxRow[]>();
    for (const row of rows) {
      const binding = this.byTable.get(row.table);
      if (!binding) continue;
      const list = byBinding.get(binding);
      if (list) list.push(row);
      else byBinding.set(binding, [row]);
    }
    for (const [binding, list] of byBinding) {
      const raw: string[] = [];
      for (const row of list) {
        if (row.before) raw.push(row.before);
        if (row.after) raw.push(row.after);
      }
      let hydrated: Row[];
      try {
        hydrated = this.store.hydrateAll(binding, await this.columnsToProperties(binding, raw));
      } catch (error) {
        // One table's states that cannot be read back (its columns changed under the
        // running app) must not hold up the other tables' changes.
        this.logger.error(`Capture in the database: ${list.length} change(s) of ${binding.stream} were not pushed: ${(error as Error)?.message ?? error}`);
        continue;
      }
      let i = 0;
      for (const row of list) out.set(row, { before: row.before ? hydrated[i++] : undefined, after: row.after ? hydrated[i++] : undefined });
    }
    return out;
  }

  /**
   * Recorded states (JSON keyed by column) as the raw rows of a `selectAll` query. PostgreSQL
   * turns them back into the table's row type (jsonb_populate_recordset), so the driver
   * parses dates, numerics and bigints as it does for any read; SQLite's JSON holds the
   * stored values themselves (blobs as hex).
   */
  private async columnsToProperties(binding: BindingDefinition, states: string[]): Promise<Row[]> {
    const columns = binding.metadata.columns.filter((c) => !c.isVirtual && !c.embeddedMetadata);
    if (this.registry.dialect === 'postgres') {
      const escape = (name: string) => this.dataSource.driver.escape(name);
      const list = columns.map((c) => `${escape(c.databaseName)} AS ${escape(c.propertyName)}`).join(', ');
      return records(this.dataSource, `SELECT ${list} FROM jsonb_populate_recordset(NULL::${binding.sql.from}, $1::jsonb)`, [`[${states.join(',')}]`]);
    }
    return states.map((text) => {
      const state = JSON.parse(text) as Record<string, unknown>;
      const row: Row = {};
      for (const c of columns) {
        const value = state[c.databaseName] ?? null;
        row[c.propertyName] = isBlob(c) && typeof value === 'string' ? Buffer.from(value, 'hex') : value;
      }
      return row;
    });
  }
}
