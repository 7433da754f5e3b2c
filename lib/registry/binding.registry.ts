import { Inject, Injectable, Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import { BINDINGS_DATA_SOURCE, BINDINGS_OPTIONS, CRUD_ACTIONS, type CrudAction } from '../bindings.constants.js';
import { InvalidBindingException } from '../exceptions/invalid-binding.exception.js';
import { UnsupportedDatabaseException } from '../exceptions/unsupported-database.exception.js';
import { UnboundRelationException } from '../exceptions/unbound-relation.exception.js';
import type { BindingOptions } from '../interfaces/binding-options.interface.js';
import type { ResolvedOptions } from '../bindings.options.js';
import type { Dialect, FieldInfo } from '../query/index.js';
import type { BindingDefinition, RelationInclude } from './binding-definition.js';
import { columnKind } from './column-kind.js';
import { declaredBindings } from './declared-bindings.js';
import { BindingsMetadataAccessor } from './metadata.accessor.js';
import { isolateSqliteTransactions, sqliteReadNow, type ReadNow } from './sqlite-connection-lock.js';

const AUTO_SUBSCRIBE_ACTIONS = new Set(['retrieve', 'create', 'update', 'save', 'list', 'search']);

/** The bindings, discovered once from the DataSource's entity metadata. */
@Injectable()
export class BindingRegistry {
  private readonly logger = new Logger('BindingsModule');
  private readonly byStream = new Map<string, BindingDefinition>();
  private readonly byTarget = new Map<Function, BindingDefinition>();
  readonly dialect: Dialect;
  /** Whether each transaction has the connection to itself (always on PostgreSQL; on better-sqlite3 through the connection lock). */
  readonly isolatedTransactions: boolean;
  /** On better-sqlite3: a read run at once when the connection is free (registry/sqlite-connection-lock). */
  readonly readNow: ReadNow | undefined;

  constructor(
    @Inject(BINDINGS_DATA_SOURCE) readonly dataSource: DataSource,
    @Inject(BINDINGS_OPTIONS) options: ResolvedOptions,
    accessor: BindingsMetadataAccessor,
  ) {
    this.dialect = dialectOf(dataSource);
    this.isolatedTransactions = this.dialect === 'postgres' || isolateSqliteTransactions(dataSource);
    this.readNow = sqliteReadNow(dataSource);
    for (const metadata of dataSource.entityMetadatas) {
      const bindingOptions = typeof metadata.target === 'function' ? accessor.bindingOptions(metadata.target) : undefined;
      if (!bindingOptions) continue;
      const definition = this.define(metadata, bindingOptions, options);
      if (this.byStream.has(definition.stream)) {
        throw new InvalidBindingException(
          metadata.name,
          `the stream "${definition.stream}" is already served by another entity`,
          'Give one of them another `app` or `name`.',
        );
      }
      this.byStream.set(definition.stream, definition);
      this.byTarget.set(definition.target, definition);
    }
    // Relations are linked once every binding is known: an include reads through the target's binding.
    for (const definition of this.byStream.values()) {
      for (const [name, relation] of definition.relations) {
        (definition.includes as Map<string, RelationInclude>).set(name, this.include(definition, name, relation));
      }
    }
    this.logger.log(`Serving ${[...this.byStream.keys()].join(', ') || 'no bindings'}`);
    this.warnUnregistered(dataSource);
  }

  /** A `@Binding` class this DataSource does not know is served nowhere: say how to fix it. */
  private warnUnregistered(dataSource: DataSource): void {
    const known = new Set(dataSource.entityMetadatas.map((metadata) => metadata.target));
    for (const target of declaredBindings) {
      if (known.has(target)) continue;
      this.logger.warn(
        `${target.name} has @Binding but is not an entity of the DataSource these bindings serve, so it is not served. ` +
          `Register it with TypeORM: TypeOrmModule.forFeature([${target.name}]) (with autoLoadEntities: true), or list it in the DataSource's entities.`,
      );
    }
  }

  get(stream: string): BindingDefinition | undefined {
    return this.byStream.get(stream);
  }

  forTarget(target: Function | string): BindingDefinition | undefined {
    return typeof target === 'function' ? this.byTarget.get(target) : undefined;
  }

  all(): IterableIterator<BindingDefinition> {
    return this.byStream.values();
  }

  private define(metadata: EntityMetadata, options: BindingOptions, moduleOptions: ResolvedOptions): BindingDefinition {
    const entity = metadata.name;
    const fail = (problem: string, fix: string) => new InvalidBindingException(entity, problem, fix);
    if (metadata.primaryColumns.length !== 1) {
      throw fail('it has a composite primary key', 'Bindings address rows by one id: give the entity a single primary column.');
    }
    const columnNames = new Set(metadata.columns.map((c) => c.propertyName));
    const checkNames = (option: string, names: readonly string[] | undefined, allowed: ReadonlySet<string>) => {
      for (const name of names ?? []) {
        if (!allowed.has(name)) throw fail(`${option} names "${name}", which is not an exposed column`, `Use one of: ${[...allowed].join(', ')}.`);
      }
    };
    checkNames('exclude', options.exclude, columnNames);
    const excluded = new Set<string>(options.exclude ?? []);
    const primary = metadata.primaryColumns[0];
    if (excluded.has(primary.propertyName)) throw fail('it excludes its primary key', 'Clients need the id: remove it from `exclude`.');

    // Relation join columns without a property of their own (`isVirtual`) and embedded
    // columns are not served; declare `@Column() boardId` next to `@ManyToOne` to expose a key.
    const stored = metadata.columns.filter((c) => !c.isVirtual && !c.embeddedMetadata);
    const exposed = stored.filter((c) => !excluded.has(c.propertyName));
    const allFields = new Map<string, FieldInfo>();
    for (const column of stored) {
      allFields.set(column.propertyName, { kind: columnKind(column), nullable: column.isNullable, column: column.databaseName });
    }
    const fields = new Map(exposed.map((c) => [c.propertyName, allFields.get(c.propertyName)!]));
    const exposedNames = new Set(fields.keys());
    checkNames('filterFields', options.filterFields, exposedNames);
    checkNames('orderFields', options.orderFields, exposedNames);
    checkNames('searchFields', options.searchFields, exposedNames);
    for (const name of options.searchFields ?? []) {
      if (fields.get(name)!.kind !== 'string')
        throw fail(`searchFields names "${name}", which is not a string column`, 'Search matches text: name string columns only.');
    }
    const filterFields = options.filterFields ? new Map(options.filterFields.map((n) => [n, fields.get(n)!])) : fields;
    const searchFields = options.searchFields ?? [...fields].filter(([, f]) => f.kind === 'string').map(([n]) => n);

    const writable = new Map<string, ColumnMetadata>();
    const required: string[] = [];
    for (const column of exposed) {
      if (column.isPrimary || column.isGenerated || column.isCreateDate || column.isUpdateDate || column.isDeleteDate || column.isVersion) continue;
      writable.set(column.propertyName, column);
      if (!column.isNullable && column.default === undefined && !column.generatedType) required.push(column.propertyName);
    }

    const relations = new Map();
    for (const name of options.relations ?? []) {
      const relation = metadata.findRelationWithPropertyPath(name);
      if (!relation)
        throw fail(
          `relations names "${name}", which is not a relation`,
          `Use one of: ${metadata.relations.map((r) => r.propertyName).join(', ') || '(none)'}.`,
        );
      relations.set(name, relation);
    }

    const actions = new Set<CrudAction>(options.actions ?? CRUD_ACTIONS);
    for (const action of actions) {
      if (!(CRUD_ACTIONS as readonly string[]).includes(action)) throw fail(`actions names "${action}"`, `Use some of: ${CRUD_ACTIONS.join(', ')}.`);
    }
    const autoSubscribe = new Set<string>(options.autoSubscribe ?? ['retrieve']);
    for (const action of autoSubscribe) {
      if (!AUTO_SUBSCRIBE_ACTIONS.has(action)) throw fail(`autoSubscribe names "${action}"`, `Use some of: ${[...AUTO_SUBSCRIBE_ACTIONS].join(', ')}.`);
    }
    const pageSize = options.pageSize ?? 25;
    const maxPageSize = options.maxPageSize ?? 100;
    if (!(pageSize >= 1 && maxPageSize >= pageSize)) throw fail('pageSize/maxPageSize are out of range', 'Use 1 <= pageSize <= maxPageSize.');

    const escape = (name: string) => this.dataSource.driver.escape(name);
    const table = metadata.tablePath.split('.').map(escape).join('.');
    const list = (columns: readonly ColumnMetadata[]) => columns.map((c) => `${escape(c.databaseName)} AS ${escape(c.propertyName)}`).join(', ');
    const app = options.app ?? moduleOptions.defaultApp;
    const name = options.name ?? metadata.name;
    return {
      stream: `${app}.${name}`,
      app,
      name,
      target: metadata.target as Function,
      metadata,
      options,
      actions,
      autoSubscribe,
      primary,
      exposed,
      fields,
      allFields,
      filterFields,
      orderFields: new Set(options.orderFields ?? exposedNames),
      searchFields,
      writable,
      required,
      versionColumn: metadata.versionColumn,
      generatesOnUpdate: Boolean(metadata.versionColumn || metadata.updateDateColumn || stored.some((c) => c.generatedType || c.asExpression || c.onUpdate)),
      deleteDateColumn: metadata.deleteDateColumn,
      relations,
      includes: new Map(),
      pageSize,
      maxPageSize,
      sql: {
        dialect: this.dialect,
        select: `SELECT ${list(exposed)} FROM ${table}`,
        selectCounted: `SELECT ${list(exposed)}, COUNT(*) OVER () AS ${escape('__count')} FROM ${table}`,
        selectAll: `SELECT ${list(stored)} FROM ${table}`,
        columns: list(stored),
        from: table,
        notDeleted: metadata.deleteDateColumn ? `${escape(metadata.deleteDateColumn.databaseName)} IS NULL` : '',
        pk: escape(primary.databaseName),
      },
    };
  }

  /** How `include` loads `relation` of `owner` for a page of owner rows, in one query. */
  private include(owner: BindingDefinition, name: string, relation: RelationMetadata): RelationInclude {
    const related = relation.inverseEntityMetadata;
    const target = this.forTarget(related.target);
    if (!target) throw new UnboundRelationException(owner.metadata.name, name, related.name);
    const fail = (problem: string) =>
      new InvalidBindingException(owner.metadata.name, `relations names "${name}", ${problem}`, `Remove "${name}" from relations.`);
    // An included row is what a retrieve of it answers: a target that serves no retrieve has nothing to answer.
    if (!target.actions.has('retrieve')) {
      throw new InvalidBindingException(
        owner.metadata.name,
        `relations names "${name}", whose target ${target.stream} does not serve retrieve`,
        `Add 'retrieve' to the actions of ${related.name}, or remove "${name}" from relations.`,
      );
    }
    const escape = (id: string) => this.dataSource.driver.escape(id);
    const [o, r, j] = [escape('__o'), escape('__r'), escape('__j')];
    const table = (metadata: EntityMetadata) => metadata.tablePath.split('.').map(escape).join('.');
    // `a.x = b.y` for each column pair; `column` lives in `alias`, its referenced column in `other`.
    const on = (columns: readonly ColumnMetadata[], alias: string, other: string) => {
      if (columns.length === 0 || columns.some((c) => !c.referencedColumn)) throw fail('whose join columns TypeORM does not describe');
      return columns.map((c) => `${alias}.${escape(c.databaseName)} = ${other}.${escape(c.referencedColumn!.databaseName)}`).join(' AND ');
    };
    let joins: string;
    if (relation.isManyToOne || relation.isOneToOneOwner) {
      joins = `INNER JOIN ${table(owner.metadata)} ${o} ON ${on(relation.joinColumns, o, r)}`;
    } else if (relation.isOneToMany || relation.isOneToOneNotOwner) {
      if (!relation.inverseRelation) throw fail('which has no inverse side');
      joins = `INNER JOIN ${table(owner.metadata)} ${o} ON ${on(relation.inverseRelation.joinColumns, r, o)}`;
    } else if (relation.isManyToMany) {
      // Through the join table: its columns referencing the owner, and those referencing the related entity.
      const owning = relation.isOwning ? relation : relation.inverseRelation;
      if (!owning?.junctionEntityMetadata) throw fail('whose join table TypeORM does not describe');
      const [toOwner, toRelated] = relation.isOwning ? [owning.joinColumns, owning.inverseJoinColumns] : [owning.inverseJoinColumns, owning.joinColumns];
      joins = `INNER JOIN ${table(owning.junctionEntityMetadata)} ${j} ON ${on(toRelated, j, r)} INNER JOIN ${table(owner.metadata)} ${o} ON ${on(toOwner, j, o)}`;
    } else {
      throw fail(`a ${relation.relationType} relation, which include does not support`);
    }
    const columns = related.columns.filter((c) => !c.isVirtual && !c.embeddedMetadata);
    const list = columns.map((c) => `${escape(c.databaseName)} AS ${escape(c.propertyName)}`).join(', ');
    const ownerKey = escape('__owner');
    return {
      name,
      target,
      many: relation.isOneToMany || relation.isManyToMany,
      sqlHead: `SELECT ${ownerKey}, ${list} FROM (SELECT ${o}.${owner.sql.pk} AS ${ownerKey}, ${r}.* FROM ${table(related)} ${r} ${joins} WHERE ${o}.${owner.sql.pk} IN (`,
      sqlTail: `)) ${escape('__t')}`,
    };
  }
}

function dialectOf(dataSource: DataSource): Dialect {
  const type = dataSource.options.type;
  if (type === 'postgres') return 'postgres';
  if (type === 'better-sqlite3' || type === 'sqljs' || (type as string) === 'sqlite') return 'sqlite';
  throw new UnsupportedDatabaseException(String(type));
}
