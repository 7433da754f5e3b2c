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
 * lanes that delete their cards is 2 deep). Each level costs at least one query, so a long
 * self-referencing chain (replies of replies) stops here; deeper rows are still changed by
 * the database but not pushed, and a warning says so.
 */
export const MAX_CASCADE_DEPTH = 32;

/** Rows read again by id in one query, after a SET DEFAULT or ON UPDATE CASCADE. */
const REREAD_BATCH = 1000;

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

/** Rows of one table and what happens to them. */
interface Node {
  metadata: EntityMetadata;
  effect: Effect;
}

/** The SELECT of a table a cascade reaches, and the aliases its key columns are read under. */
interface Shape {
  select: string;
  /** Column database name -> alias in the raw row. */
  keys: ReadonlyMap<string, string>;
  /** Whether further foreign keys lead on from this table. */
  follows: boolean;
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
 * connection (and transaction) just before it runs: one SELECT per foreign key per level,
 * with all the keys of the level above in one parameter. Only foreign keys that lead to rows
 * that push are followed, so a table no bound entity can be reached from costs nothing.
 */
export class Cascades {
  private readonly logger = new Logger('BindingsModule');
  /** Per referenced table, its foreign keys with an action. */
  private readonly referencing = new Map<string, ForeignKeyMetadata[]>();
  /** Per referenced table, the columns whose update fires an `onUpdate` action. */
  private readonly updateKeys = new Map<string, Set<string>>();
  private readonly plans = new Map<string, Edge[]>();
  private readonly shapes = new Map<string, Shape>();

  constructor(
    private readonly registry: BindingRegistry,
    private readonly store: RowStore,
  ) {
    for (const metadata of registry.dataSource.entityMetadatas) {
      for (const fk of metadata.foreignKeys) {
        if (!ACTIONS.has(fk.onDelete ?? '') && !ACTIONS.has(fk.onUpdate ?? '')) continue;
        const table = fk.referencedEntityMetadata.tablePath;
        this.referencing.set(table, [...(this.referencing.get(table) ?? []), fk]);
        if (!ACTIONS.has(fk.onUpdate ?? '')) continue;
        const keys = this.updateKeys.get(table) ?? new Set<string>();
        for (const column of fk.referencedColumns) keys.add(column.databaseName);
        this.updateKeys.set(table, keys);
      }
    }
  }

  /** Whether a statement may make the database change rows of a bound entity. Costs no query. */
  affects(kind: StatementKind, qb: any): boolean {
    const metadata: EntityMetadata = qb.expressionMap.mainAlias.metadata;
    if (!this.referencing.has(metadata.tablePath)) return false;
    const effect = this.effectOf(kind, qb, metadata);
    return effect !== undefined && this.plan(metadata, effect).length > 0;
  }

  /**
   * Reads, before the statement runs and on its connection, the rows its cascades will change,
   * level by level: the first from the statement's own WHERE (as a subquery), each next one by
   * the keys of the rows just read, each row followed once (so cycles end).
   */
  async before(kind: StatementKind, qb: any, runner: QueryRunner): Promise<CascadeRead> {
    const metadata: EntityMetadata = qb.expressionMap.mainAlias.metadata;
    const read: CascadeRead = { deleted: [], nulled: [], rewritten: [] };
    const effect = this.effectOf(kind, qb, metadata);
    if (!effect) return read;
    const driver = this.registry.dataSource.driver;
    const params: Record<string, unknown> = qb.getParameters();
    // The statement's own WHERE, as ChangeCapture.before renders it (no aliases, column names).
    const where: string = qb.replacePropertyNamesForTheWholeQuery(qb.createWhereExpression());
    const table = this.table(metadata);
    const pk = this.names(metadata.primaryColumns);
    // Rows the statement itself deletes or updates are its own changes, not cascades.
    const notOwn = ` AND ${tuple(pk)} NOT IN (SELECT ${pk.join(', ')} FROM ${table}${where})`;
    const followed = new Map<string, Set<string>>();
    let level: Array<{ node: Node; rows?: Row[] }> = [{ node: { metadata, effect } }];
    for (let depth = 1; level.length > 0; depth++) {
      if (depth > MAX_CASCADE_DEPTH) {
        this.logger.warn(
          `A cascade from ${metadata.name} goes deeper than ${MAX_CASCADE_DEPTH} foreign keys; rows the database changes beyond that are not pushed.`,
        );
        break;
      }
      const next = new Map<string, { node: Node; rows: Row[] }>();
      for (const { node, rows } of level) {
        for (const edge of this.plan(node.metadata, node.effect)) {
          const child: Node = { metadata: edge.fk.entityMetadata, effect: edge.effect };
          const childId = nodeKey(child.metadata, child.effect);
          const shape = this.shape(child);
          const binding = this.registry.forTarget(child.metadata.target);
          const conditions = rows
            ? this.keyConditions(edge.fk, rows, this.shape(node))
            : [
                {
                  sql: `${tuple(this.names(edge.fk.columns))} IN (SELECT ${this.names(edge.fk.referencedColumns).join(', ')} FROM ${table}${where})`,
                  params: {},
                },
              ];
          for (const condition of conditions) {
            const own = child.metadata.tablePath === metadata.tablePath ? notOwn : '';
            const sql = `${shape.select} WHERE ${condition.sql}${own}`;
            const raws: Row[] = await runner.query(...driver.escapeQueryWithParameters(sql, { ...params, ...condition.params }));
            let seen = followed.get(childId);
            if (!seen) followed.set(childId, (seen = new Set()));
            for (const raw of raws) {
              const id = JSON.stringify(child.metadata.primaryColumns.map((c) => raw[shape.keys.get(c.databaseName)!]));
              if (seen.has(id)) continue;
              seen.add(id);
              if (binding) this.classify(edge, binding, this.store.hydrateAll(binding, [raw])[0], read);
              if (shape.follows) {
                let entry = next.get(childId);
                if (!entry) next.set(childId, (entry = { node: child, rows: [] }));
                entry.rows.push(raw);
              }
            }
          }
        }
      }
      level = [...next.values()];
    }
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
      if (!again) continue;
      const ids = reread.get(binding) ?? [];
      reread.set(binding, ids);
      ids.push(before[binding.primary.propertyName] as string | number);
    }
    for (const [binding, ids] of reread) {
      // In batches: SQLite takes at most 32,766 parameters in one statement.
      for (let start = 0; start < ids.length; start += REREAD_BATCH) {
        const rows = await this.store.findByIds(binding, ids.slice(start, start + REREAD_BATCH), runner.manager);
        for (const row of rows) updated.get(key(binding, row))!.after = row;
      }
    }
    for (const { binding, before, after } of updated.values()) changes.updated.push({ binding, before, after });
    return changes;
  }

  /**
   * What a statement does to its table's rows, as far as foreign keys care: a delete, or an
   * update of the referenced columns it sets (only those, so the plans cached per set of
   * columns stay as few as the schema's keys, whatever columns clients update).
   * Soft delete and restore change no key.
   */
  private effectOf(kind: StatementKind, qb: any, metadata: EntityMetadata): Effect | undefined {
    if (kind === 'delete') return { kind: 'delete' };
    if (kind !== 'update') return undefined;
    const referenced = this.updateKeys.get(metadata.tablePath);
    if (!referenced) return undefined;
    const values: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(qb.getValueSet() ?? {})) if (value !== undefined) values[name] = value;
    const columns = (qb.createPropertyPath(metadata, values) as string[])
      .flatMap((path) => metadata.findColumnsWithPropertyPath(path))
      .filter((column) => referenced.has(column.databaseName));
    return columns.length ? { kind: 'update', columns } : undefined;
  }

  private classify(edge: Edge, binding: BindingDefinition, row: Row, read: CascadeRead): void {
    if (edge.effect.kind === 'delete') read.deleted.push({ binding, row });
    else if (edge.action === 'SET NULL') {
      read.nulled.push({ binding, row, properties: edge.fk.columns.filter((c) => binding.allFields.has(c.propertyName)).map((c) => c.propertyName) });
    } else read.rewritten.push({ binding, row });
  }

  /**
   * `fk` matches the keys of `rows` (raw rows of the referenced table, as `shape` selected
   * them): one parameter holding every key for a one-column key (`= ANY($1)` on PostgreSQL,
   * `json_each` on SQLite), or for a composite key one condition per key (its columns ANDed),
   * ORed in batches of 200 keys.
   */
  private keyConditions(fk: ForeignKeyMetadata, rows: readonly Row[], shape: Shape): Array<{ sql: string; params: Record<string, unknown> }> {
    const distinct = new Map<string, unknown[]>();
    for (const row of rows) {
      const key = fk.referencedColumns.map((c) => row[shape.keys.get(c.databaseName)!]);
      // NULL never matches a foreign key.
      if (key.every((value) => value !== null && value !== undefined)) distinct.set(JSON.stringify(key), key);
    }
    const keys = [...distinct.values()];
    if (keys.length === 0) return [];
    const columns = this.names(fk.columns);
    if (columns.length === 1) {
      const values = keys.map((key) => key[0]);
      return this.registry.dialect === 'postgres'
        ? [{ sql: `${columns[0]} = ANY(:nb_cascade_keys)`, params: { nb_cascade_keys: values } }]
        : [{ sql: `${columns[0]} IN (SELECT value FROM json_each(:nb_cascade_keys))`, params: { nb_cascade_keys: JSON.stringify(values) } }];
    }
    const batches: Array<{ sql: string; params: Record<string, unknown> }> = [];
    for (let start = 0; start < keys.length; start += 200) {
      const params: Record<string, unknown> = {};
      const terms = keys.slice(start, start + 200).map((key, row) => {
        const pairs = columns.map((column, i) => ((params[`nb_cascade_${row}_${i}`] = key[i]), `${column} = :nb_cascade_${row}_${i}`));
        return `(${pairs.join(' AND ')})`;
      });
      batches.push({ sql: `(${terms.join(' OR ')})`, params });
    }
    return batches;
  }

  /**
   * What is selected of a table a cascade reaches: every column of a bound entity (for its
   * push), plus, under aliases, its primary key and the columns the next foreign keys reference.
   */
  private shape(node: Node): Shape {
    const id = nodeKey(node.metadata, node.effect);
    let shape = this.shapes.get(id);
    if (shape) return shape;
    const escape = (name: string) => this.registry.dataSource.driver.escape(name);
    const next = this.plan(node.metadata, node.effect);
    const keyColumns = new Map<string, ColumnMetadata>();
    for (const column of [...node.metadata.primaryColumns, ...next.flatMap((edge) => edge.fk.referencedColumns)]) keyColumns.set(column.databaseName, column);
    const keys = new Map([...keyColumns.keys()].map((name, i) => [name, `__k${i}`]));
    const list = [...keys].map(([name, alias]) => `${escape(name)} AS ${escape(alias)}`);
    const binding = this.registry.forTarget(node.metadata.target);
    if (binding) {
      for (const column of node.metadata.columns) {
        if (!column.isVirtual && !column.embeddedMetadata) list.push(`${escape(column.databaseName)} AS ${escape(column.propertyName)}`);
      }
    }
    shape = { select: `SELECT ${list.join(', ')} FROM ${this.table(node.metadata)}`, keys, follows: next.length > 0 };
    this.shapes.set(id, shape);
    return shape;
  }

  private table(metadata: EntityMetadata): string {
    return metadata.tablePath
      .split('.')
      .map((part) => this.registry.dataSource.driver.escape(part))
      .join('.');
  }

  private names(columns: readonly ColumnMetadata[]): string[] {
    return columns.map((c) => this.registry.dataSource.driver.escape(c.databaseName));
  }

  /** The foreign keys through which `effect` on `metadata` reaches rows that push, computed once. */
  private plan(metadata: EntityMetadata, effect: Effect): Edge[] {
    const id = nodeKey(metadata, effect);
    let plan = this.plans.get(id);
    if (!plan) {
      plan = this.edges(metadata, effect).filter((edge) => this.leadsToPushes(edge));
      this.plans.set(id, plan);
    }
    return plan;
  }

  /** Whether the rows an edge changes push, or lead through further edges (cycles included) to rows that do. */
  private leadsToPushes(start: Edge): boolean {
    const seen = new Set<string>();
    const queue = [start];
    for (let edge = queue.pop(); edge; edge = queue.pop()) {
      const child = edge.fk.entityMetadata;
      const binding = this.registry.forTarget(child.target);
      // A key rewritten in columns the binding does not send out changes nothing a client sees.
      if (binding && (edge.effect.kind === 'delete' || edge.fk.columns.some((c) => binding.fields.has(c.propertyName)))) return true;
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

function nodeKey(metadata: EntityMetadata, effect: Effect): string {
  const columns = effect.kind === 'update' ? [...new Set(effect.columns.map((c) => c.databaseName))].sort() : [];
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
