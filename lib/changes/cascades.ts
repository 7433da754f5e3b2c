import { Logger } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { ForeignKeyMetadata } from 'typeorm/metadata/ForeignKeyMetadata.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import type { BindingRegistry } from '../registry/binding.registry.js';
import type { Row } from '../rows/entity-change.js';
import type { RowStore } from '../rows/row-store.js';
import type { StatementKind } from './query-builder-capture.js';

/**
 * How many foreign keys deep a cascade is followed (a delete of a board that deletes its
 * columns that delete their cards is 2 deep). Each level costs a query that nests the ones
 * above it, so a self-referencing chain (replies of replies) stops here; deeper rows are
 * still changed by the database but not pushed, and a warning says so.
 */
export const MAX_CASCADE_DEPTH = 16;

type Action = 'CASCADE' | 'SET NULL' | 'SET DEFAULT';
const ACTIONS: ReadonlySet<string> = new Set<Action>(['CASCADE', 'SET NULL', 'SET DEFAULT']);

/** What a statement (or a foreign-key action) does to the rows of one table. */
type Effect = { kind: 'delete' } | { kind: 'update'; columns: readonly ColumnMetadata[] };

/** A foreign key whose action changes rows of `fk.entityMetadata` when a row it references goes or changes key. */
interface Edge {
  fk: ForeignKeyMetadata;
  action: Action;
  /** What happens to the referencing rows: deleted (ON DELETE CASCADE), or their key columns rewritten. */
  effect: Effect;
}

/** Rows of one table as SQL: `FROM <table><where>`, `where` written with the statement's named parameters. */
interface RowSet {
  metadata: EntityMetadata;
  where: string;
}

/** What the database is about to do to rows of bound entities, read before the statement. */
export interface CascadeRead {
  deleted: Array<{ binding: BindingDefinition; row: Row }>;
  /** SET NULL: the new state is the old one with these properties null. */
  nulled: Array<{ binding: BindingDefinition; row: Row; properties: string[] }>;
  /** ON UPDATE CASCADE, SET DEFAULT: the new state is read again after the statement. */
  rewritten: Array<{ binding: BindingDefinition; row: Row }>;
}

export interface CascadedChanges {
  deleted: Array<{ binding: BindingDefinition; before: Row }>;
  updated: Array<{ binding: BindingDefinition; before: Row; after: Row }>;
}

/**
 * Rows of bound entities that the database itself deletes or rewrites because of a
 * foreign key TypeORM created with `onDelete` / `onUpdate` CASCADE, SET NULL or SET DEFAULT.
 * TypeORM reports none of them to subscribers, so they are read on the statement's own
 * connection (and transaction) just before it runs: one SELECT per foreign key reached, each
 * selecting the referencing rows with a subquery on the rows of the level above, so parent
 * keys never travel to the client. Tables that no bound entity can be reached from cost nothing.
 */
export class Cascades {
  private readonly logger = new Logger('BindingsModule');
  /** Per referenced table, its foreign keys with an action. */
  private readonly referencing = new Map<string, ForeignKeyMetadata[]>();
  private readonly plans = new Map<string, Edge[]>();

  constructor(
    private readonly registry: BindingRegistry,
    private readonly store: RowStore,
  ) {
    for (const metadata of registry.dataSource.entityMetadatas) {
      for (const fk of metadata.foreignKeys) {
        if (!ACTIONS.has(fk.onDelete ?? '') && !ACTIONS.has(fk.onUpdate ?? '')) continue;
        const table = fk.referencedEntityMetadata.tablePath;
        this.referencing.set(table, [...(this.referencing.get(table) ?? []), fk]);
      }
    }
  }

  /** Whether a statement may make the database change rows of a bound entity. Costs no query. */
  affects(kind: StatementKind, qb: any): boolean {
    const metadata: EntityMetadata = qb.expressionMap.mainAlias.metadata;
    if (!this.referencing.has(metadata.tablePath)) return false;
    const effect = effectOf(kind, qb, metadata);
    return effect !== undefined && this.plan(metadata, effect).length > 0;
  }

  /** Reads, before the statement runs and on its connection, the rows its cascades will change. */
  async before(kind: StatementKind, qb: any, runner: QueryRunner): Promise<CascadeRead> {
    const metadata: EntityMetadata = qb.expressionMap.mainAlias.metadata;
    const read: CascadeRead = { deleted: [], nulled: [], rewritten: [] };
    const effect = effectOf(kind, qb, metadata);
    if (!effect) return read;
    // The statement's own WHERE, as ChangeCapture.before renders it (no aliases, column names).
    const statement: RowSet = { metadata, where: qb.replacePropertyNamesForTheWholeQuery(qb.createWhereExpression()) };
    await this.follow(statement, effect, statement, 1, read, qb.getParameters(), runner);
    return read;
  }

  /** The changes of `read` once the statement has run, each row once (a delete wins over an update). */
  async after(read: CascadeRead, runner: QueryRunner): Promise<CascadedChanges> {
    const key = (binding: BindingDefinition, row: Row) => `${binding.stream}\u0000${String(row[binding.primary.propertyName])}`;
    const gone = new Set<string>();
    const changes: CascadedChanges = { deleted: [], updated: [] };
    for (const { binding, row } of read.deleted) {
      if (gone.has(key(binding, row))) continue;
      gone.add(key(binding, row));
      // A soft-deleted row was already pushed as deleted when it was soft-deleted.
      if (visible(binding, row)) changes.deleted.push({ binding, before: row });
    }
    const updated = new Map<string, { binding: BindingDefinition; before: Row; after: Row; reread: boolean }>();
    const entry = (binding: BindingDefinition, row: Row) => {
      const id = key(binding, row);
      if (gone.has(id) || !visible(binding, row)) return undefined;
      let found = updated.get(id);
      if (!found) updated.set(id, (found = { binding, before: row, after: { ...row }, reread: false }));
      return found;
    };
    for (const { binding, row, properties } of read.nulled) {
      const found = entry(binding, row);
      for (const name of properties) if (found) found.after[name] = null;
    }
    for (const { binding, row } of read.rewritten) {
      const found = entry(binding, row);
      if (found) found.reread = true;
    }
    const reread = new Map<BindingDefinition, Array<string | number>>();
    for (const { binding, before, reread: again } of updated.values()) {
      if (again) reread.set(binding, [...(reread.get(binding) ?? []), before[binding.primary.propertyName] as string | number]);
    }
    for (const [binding, ids] of reread) {
      for (const row of await this.store.findByIds(binding, ids, runner.manager)) updated.get(key(binding, row))!.after = row;
    }
    for (const { binding, before, after } of updated.values()) changes.updated.push({ binding, before, after });
    return changes;
  }

  /** Reads the rows that `effect` on `parent` changes through each foreign key, then theirs, level by level. */
  private async follow(
    parent: RowSet,
    effect: Effect,
    statement: RowSet,
    depth: number,
    read: CascadeRead,
    params: Record<string, unknown>,
    runner: QueryRunner,
  ): Promise<void> {
    const driver = this.registry.dataSource.driver;
    const escape = (name: string) => driver.escape(name);
    const list = (columns: readonly ColumnMetadata[]) => columns.map((c) => escape(c.databaseName));
    const table = (metadata: EntityMetadata) => metadata.tablePath.split('.').map(escape).join('.');
    const query = async (sql: string) => runner.query(...driver.escapeQueryWithParameters(sql, params));
    for (const edge of this.plan(parent.metadata, effect)) {
      const { fk } = edge;
      const child = fk.entityMetadata;
      let where = ` WHERE ${tuple(list(fk.columns))} IN (SELECT ${list(fk.referencedColumns).join(', ')} FROM ${table(parent.metadata)}${parent.where})`;
      // Rows the statement itself deletes or updates are its own changes, not cascades.
      if (child.tablePath === statement.metadata.tablePath) {
        const pk = statement.metadata.primaryColumns;
        where += ` AND ${tuple(list(pk))} NOT IN (SELECT ${list(pk).join(', ')} FROM ${table(child)}${statement.where})`;
      }
      const binding = this.registry.forTarget(child.target);
      if (binding) {
        const rows = this.store.hydrateAll(binding, await query(`${binding.sql.selectAll}${where}`));
        if (rows.length === 0) continue;
        if (edge.effect.kind === 'delete') for (const row of rows) read.deleted.push({ binding, row });
        else if (edge.action === 'SET NULL') {
          const properties = fk.columns.filter((c) => binding.allFields.has(c.propertyName)).map((c) => c.propertyName);
          for (const row of rows) read.nulled.push({ binding, row, properties });
        } else for (const row of rows) read.rewritten.push({ binding, row });
      } else if ((await query(`SELECT 1 FROM ${table(child)}${where} LIMIT 1`)).length === 0) continue;
      if (this.plan(child, edge.effect).length === 0) continue;
      const next = { metadata: child, where };
      if (depth >= MAX_CASCADE_DEPTH) {
        this.logger.warn(
          `A cascade from ${statement.metadata.name} goes deeper than ${MAX_CASCADE_DEPTH} foreign keys; rows the database changes beyond that are not pushed.`,
        );
        continue;
      }
      await this.follow(next, edge.effect, statement, depth + 1, read, params, runner);
    }
  }

  /** The foreign keys through which `effect` on `metadata` reaches rows of a bound entity, computed once. */
  private plan(metadata: EntityMetadata, effect: Effect): Edge[] {
    const id = nodeKey(metadata, effect);
    let plan = this.plans.get(id);
    if (!plan) {
      plan = this.edges(metadata, effect).filter((edge) => this.reachesBound(edge));
      this.plans.set(id, plan);
    }
    return plan;
  }

  /** Whether the rows an edge changes are bound, or lead through further edges (cycles included) to bound ones. */
  private reachesBound(start: Edge): boolean {
    const seen = new Set<string>();
    const queue = [start];
    for (let edge = queue.pop(); edge; edge = queue.pop()) {
      const child = edge.fk.entityMetadata;
      if (this.registry.forTarget(child.target)) return true;
      const id = nodeKey(child, edge.effect);
      if (seen.has(id)) continue;
      seen.add(id);
      queue.push(...this.edges(child, edge.effect));
    }
    return false;
  }

  /** Every foreign key whose action fires when `effect` happens to rows of `metadata`. */
  private edges(metadata: EntityMetadata, effect: Effect): Edge[] {
    const edges: Edge[] = [];
    for (const fk of this.referencing.get(metadata.tablePath) ?? []) {
      const action = effect.kind === 'delete' ? fk.onDelete : fk.onUpdate;
      if (!action || !ACTIONS.has(action)) continue;
      if (effect.kind === 'update' && !fk.referencedColumns.some((c) => effect.columns.some((u) => u.databaseName === c.databaseName))) continue;
      const deletes = effect.kind === 'delete' && action === 'CASCADE';
      edges.push({ fk, action: action as Action, effect: deletes ? { kind: 'delete' } : { kind: 'update', columns: fk.columns } });
    }
    return edges;
  }
}

/** What a statement does to its table's rows, as far as foreign keys care; soft delete and restore change no key. */
function effectOf(kind: StatementKind, qb: any, metadata: EntityMetadata): Effect | undefined {
  if (kind === 'delete') return { kind: 'delete' };
  if (kind !== 'update') return undefined;
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(qb.getValueSet() ?? {})) if (value !== undefined) values[name] = value;
  const columns = (qb.createPropertyPath(metadata, values) as string[]).flatMap((path) => metadata.findColumnsWithPropertyPath(path));
  return columns.length ? { kind: 'update', columns } : undefined;
}

function nodeKey(metadata: EntityMetadata, effect: Effect): string {
  const columns = effect.kind === 'update' ? effect.columns.map((c) => c.databaseName).sort() : [];
  return `${metadata.tablePath}\u0000${effect.kind}\u0000${columns.join('\u0000')}`;
}

/** `a` for one column, `(a, b)` for several (row values: PostgreSQL, SQLite >= 3.15). */
function tuple(names: readonly string[]): string {
  return names.length === 1 ? names[0] : `(${names.join(', ')})`;
}

function visible(binding: BindingDefinition, row: Row): boolean {
  const deleteDate = binding.deleteDateColumn?.propertyName;
  return !deleteDate || row[deleteDate] === null || row[deleteDate] === undefined;
}
