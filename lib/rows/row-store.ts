import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import { BindingError } from '../protocol/binding-error.js';
import { compileOrder, compileWhere, type FilterNode, type OrderSpec, type SqlContext } from '../query/index.js';
import type { BindingDefinition, RelationInclude } from '../registry/binding-definition.js';
import { BindingRegistry } from '../registry/binding.registry.js';
import type { Row } from './entity-change.js';

/**
 * Reads rows with SQL text prepared at start-up and filters compiled to parameters, and
 * hydrates them with the driver's own conversions. Writes go through TypeORM (see the
 * actions), so every subscriber of the application, ours included, sees them.
 */
@Injectable()
export class RowStore {
  /** By-id reads, per parsed scope (or per binding without one): see byIdQuery. */
  private readonly byId = new WeakMap<object, { binding: BindingDefinition; sql: string; params: unknown[] }>();

  constructor(private readonly registry: BindingRegistry) {}

  get dataSource() {
    return this.registry.dataSource;
  }

  /** The id a client sent, converted to the primary column's type. */
  parseId(binding: BindingDefinition, raw: unknown): string | number {
    const kind = binding.allFields.get(binding.primary.propertyName)!.kind;
    if (kind === 'number') {
      const id = typeof raw === 'string' && /^-?\d{1,16}$/.test(raw) ? Number(raw) : raw;
      if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
      throw BindingError.badRequest('id must be an integer', [{ field: 'id', constraint: 'isInt', message: 'id must be an integer' }]);
    }
    if ((typeof raw === 'string' && raw.length > 0 && raw.length <= 1000) || (typeof raw === 'number' && Number.isFinite(raw))) return String(raw);
    throw BindingError.badRequest('id must be a non-empty string', [{ field: 'id', constraint: 'isString', message: 'id must be a non-empty string' }]);
  }

  /** One row with every column, or undefined when it does not exist or is outside `scope`. */
  async findById(
    binding: BindingDefinition,
    id: string | number,
    scope: FilterNode | undefined,
    manager?: EntityManager,
    forUpdate = false,
  ): Promise<Row | undefined> {
    const query = this.byIdQuery(binding, scope);
    const params = query.params.slice();
    params[0] = this.persist(binding.primary, id);
    // A write locks the row it read (PostgreSQL), so a concurrent write of the same row waits
    // and then sees the new version. On SQLite a transaction has the connection to itself (registry/sqlite-connection-lock).
    const sql = forUpdate && binding.sql.dialect === 'postgres' ? `${query.sql} FOR UPDATE` : query.sql;
    const rows = await this.read(sql, params, manager);
    return rows.length ? this.hydrate(binding, rows[0], binding.metadata.columns) : undefined;
  }

  /**
   * The SQL of a by-id read under `scope` and the scope's parameters after the id's (`params[0]`).
   * Kept per parsed scope (AccessPolicy keeps the parse of a scope answer seen before), so a
   * request reads by id with the same text each time, found at once among the driver's prepared statements.
   */
  private byIdQuery(binding: BindingDefinition, scope: FilterNode | undefined): { sql: string; params: unknown[] } {
    const owner: object = scope ?? binding;
    const known = this.byId.get(owner);
    if (known?.binding === binding) return known;
    const params: unknown[] = [];
    const conditions = [`${binding.sql.pk} = ${this.placeholder(params, undefined)}`];
    if (binding.sql.notDeleted) conditions.push(binding.sql.notDeleted);
    if (scope) conditions.push(compileWhere(scope, binding.allFields, this.sqlContext(binding, params)));
    const query = { binding, sql: `${binding.sql.selectAll} WHERE ${conditions.join(' AND ')} LIMIT 1`, params };
    this.byId.set(owner, query);
    return query;
  }

  /** Rows with every column for the given ids, in no particular order. */
  async findByIds(binding: BindingDefinition, ids: readonly (string | number)[], manager?: EntityManager): Promise<Row[]> {
    if (ids.length === 0) return [];
    const params: unknown[] = [];
    const list = ids.map((id) => this.placeholder(params, this.persist(binding.primary, id))).join(', ');
    const sql = `${binding.sql.selectAll} WHERE ${binding.sql.pk} IN (${list})`;
    const rows = await this.read(sql, params, manager);
    return rows.map((raw) => this.hydrate(binding, raw, binding.metadata.columns));
  }

  /**
   * The related rows of `include` for the owner rows `ownerIds`, in one query: every column,
   * soft-deleted rows left out and the related binding's `scope` ANDed in, as its retrieve
   * reads them. Each comes with the id of the owner row it belongs to, ordered by related id;
   * at most `limit` of them.
   */
  async findIncluded(
    owner: BindingDefinition,
    include: RelationInclude,
    ownerIds: readonly (string | number)[],
    scope: FilterNode | undefined,
    limit?: number,
  ): Promise<Array<{ owner: unknown; row: Row }>> {
    if (ownerIds.length === 0) return [];
    const related = include.target;
    const params: unknown[] = [];
    const list = ownerIds.map((id) => this.placeholder(params, this.persist(owner.primary, id))).join(', ');
    const conditions: string[] = [];
    if (related.sql.notDeleted) conditions.push(related.sql.notDeleted);
    if (scope) conditions.push(compileWhere(scope, related.allFields, this.sqlContext(related, params)));
    const where = conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
    const limited = limit === undefined ? '' : ` LIMIT ${this.placeholder(params, limit)}`;
    const sql = `${include.sqlHead}${list}${include.sqlTail}${where} ORDER BY ${related.sql.pk} ASC${limited}`;
    const raws = await this.read(sql, params);
    const driver = this.registry.dataSource.driver;
    return raws.map((raw) => ({ owner: driver.prepareHydratedValue(raw.__owner, owner.primary), row: this.hydrate(related, raw, related.metadata.columns) }));
  }

  /** One page of exposed rows and the number of rows matching `where` over all pages. */
  async findPage(
    binding: BindingDefinition,
    where: FilterNode | undefined,
    order: OrderSpec,
    limit: number,
    offset: number,
  ): Promise<{ rows: Row[]; count: number }> {
    const params: unknown[] = [];
    const ctx = this.sqlContext(binding, params);
    const conditions: string[] = [];
    if (binding.sql.notDeleted) conditions.push(binding.sql.notDeleted);
    if (where) conditions.push(compileWhere(where, binding.allFields, ctx));
    const whereSql = conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
    const orderSql = compileOrder(order, binding.fields, ctx);
    // The primary key ends every order so pages never overlap or skip rows.
    const orderBy = ` ORDER BY ${orderSql ? `${orderSql}, ` : ''}${binding.sql.pk} ASC`;
    // COUNT(*) OVER () gives the total with the page in one round trip (SQLite >= 3.25, PostgreSQL).
    const pageParams = [...params];
    const sql = `${binding.sql.selectCounted}${whereSql}${orderBy} LIMIT ${this.placeholder(pageParams, limit)} OFFSET ${this.placeholder(pageParams, offset)}`;
    const manager = this.registry.dataSource.manager;
    const raws = await this.read(sql, pageParams);
    let count = raws.length ? Number(raws[0].__count) : 0;
    if (!raws.length && offset > 0) {
      // Past the last page the window has no row to carry the total: ask for it alone.
      const counted: Row[] = await manager.query(
        `SELECT COUNT(*) AS ${this.registry.dataSource.driver.escape('__count')} FROM ${binding.sql.from}${whereSql}`,
        params,
      );
      count = Number(counted[0].__count);
    }
    return { rows: raws.map((raw) => this.hydrate(binding, raw, binding.exposed)), count };
  }

  /**
   * Writes `values` onto the row `current` (read and locked by the caller in this transaction)
   * with one UPDATE of the columns that change, and returns the row as stored, or `current`
   * when nothing changes (as `save` does, no statement and no new version). PostgreSQL gives
   * the stored row back with `RETURNING`; on SQLite (where TypeORM writes no `RETURNING`) it is
   * `current` with the values passed through the driver's conversions both ways, and the row
   * is read back only when the database sets columns of its own (version, update date,
   * generated columns). The statement opts out of the capture's own reads
   * (`callListeners(false)`): the caller records the change from `current` and the result; the
   * rows the database changes through foreign-key actions are still captured.
   */
  async updateRow(binding: BindingDefinition, manager: EntityManager, current: Row, values: Row): Promise<Row> {
    const changed: Row = {};
    let changes = 0;
    for (const [field, value] of Object.entries(values)) {
      const column = binding.metadata.findColumnWithPropertyName(field)!;
      if (sameStored(this.persist(column, value), this.persist(column, current[field]))) continue;
      changed[field] = value;
      changes++;
    }
    if (changes === 0) return current;
    const pk = binding.primary.propertyName;
    const update = manager
      .createQueryBuilder()
      .update(binding.target)
      .set(changed)
      .where(`${binding.sql.pk} = :id`, { id: this.persist(binding.primary, current[pk]) })
      .updateEntity(false)
      .callListeners(false);
    if (binding.sql.dialect === 'postgres') {
      const { raw } = await update.returning(binding.sql.columns).execute();
      return this.hydrate(binding, (raw as Row[])[0], binding.metadata.columns);
    }
    await update.execute();
    if (binding.generatesOnUpdate) return (await this.findById(binding, current[pk] as string | number, undefined, manager))!;
    const driver = this.registry.dataSource.driver;
    const row: Row = { ...current };
    for (const field of Object.keys(changed)) {
      const column = binding.metadata.findColumnWithPropertyName(field)!;
      row[field] = driver.prepareHydratedValue(this.persist(column, changed[field]), column);
    }
    return row;
  }

  /** A TypeORM entity instance carrying `row`, for writing back through the repository. */
  toEntity(binding: BindingDefinition, row: Row): object {
    return Object.assign(binding.metadata.create(), row);
  }

  /** Hydrates raw rows of a `selectAll` query. */
  hydrateAll(binding: BindingDefinition, raws: readonly Row[]): Row[] {
    return raws.map((raw) => this.hydrate(binding, raw, binding.metadata.columns));
  }

  private hydrate(binding: BindingDefinition, raw: Row, columns: readonly ColumnMetadata[]): Row {
    const driver = this.registry.dataSource.driver;
    const row: Row = {};
    for (const column of columns) {
      if (column.isVirtual || column.embeddedMetadata) continue;
      row[column.propertyName] = driver.prepareHydratedValue(raw[column.propertyName], column);
    }
    return row;
  }

  /** A read on `manager` (a transaction's), or on the DataSource: at once when the SQLite connection is free. */
  private read(sql: string, params: unknown[], manager?: EntityManager): Promise<Row[]> {
    if (!manager) {
      const rows = this.registry.readNow?.(sql, params);
      if (rows) return Promise.resolve(rows);
    }
    return (manager ?? this.registry.dataSource.manager).query(sql, params);
  }

  private sqlContext(binding: BindingDefinition, params: unknown[]): SqlContext {
    const driver = this.registry.dataSource.driver;
    return {
      dialect: binding.sql.dialect,
      escape: (name) => driver.escape(name),
      param: (field, value) => {
        const column = binding.metadata.findColumnWithPropertyName(field);
        return this.placeholder(params, column ? this.persist(column, value) : value);
      },
      paramList: (field, values) => {
        const column = binding.metadata.findColumnWithPropertyName(field);
        const persisted = values.map((value) => (column ? this.persist(column, value) : value));
        // SQLite reads the list with json_each; node-postgres sends a JS array as an array.
        return this.placeholder(params, binding.sql.dialect === 'postgres' ? persisted : JSON.stringify(persisted));
      },
    };
  }

  private persist(column: ColumnMetadata, value: unknown): unknown {
    return this.registry.dataSource.driver.preparePersistentValue(value, column);
  }

  private placeholder(params: unknown[], value: unknown): string {
    params.push(value);
    return this.registry.dialect === 'postgres' ? `$${params.length}` : '?';
  }
}

/** Whether two values as the driver stores them are the same. */
function sameStored(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a === null || b === null || a === undefined || b === undefined) return (a ?? null) === (b ?? null);
  if (typeof a === 'object' && typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return false;
}
