import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata.js';
import type { CrudAction } from '../bindings.constants.js';
import type { BindingOptions } from '../interfaces/binding-options.interface.js';
import type { Dialect, FieldInfo, FieldMap } from '../query/index.js';

/**
 * Everything the actions, rooms and transports need to know about one bound entity,
 * computed once at start-up so no request re-reads TypeORM metadata or rebuilds SQL text.
 */
export interface BindingDefinition {
  /** `<app>.<Model>`: the event prefix and the model room's name. */
  readonly stream: string;
  readonly app: string;
  readonly name: string;
  readonly target: Function;
  readonly metadata: EntityMetadata;
  readonly options: BindingOptions;
  readonly actions: ReadonlySet<CrudAction>;
  readonly autoSubscribe: ReadonlySet<string>;
  readonly primary: ColumnMetadata;
  /** Columns sent out (every column but the excluded ones), in entity order. */
  readonly exposed: readonly ColumnMetadata[];
  /** Exposed property -> what the filter language needs to know about it. */
  readonly fields: FieldMap;
  /** Every column, exposed or not: what `scope` filters may name. */
  readonly allFields: FieldMap;
  readonly filterFields: FieldMap;
  readonly orderFields: ReadonlySet<string>;
  readonly searchFields: readonly string[];
  /** Properties a client may write, with their columns. */
  readonly writable: ReadonlyMap<string, ColumnMetadata>;
  /** Properties `create` must be given (not nullable, no default, not generated). */
  readonly required: readonly string[];
  readonly versionColumn?: ColumnMetadata;
  /** Whether an UPDATE sets columns it was not given (version, update date, generated or `onUpdate` columns). */
  readonly generatesOnUpdate: boolean;
  readonly deleteDateColumn?: ColumnMetadata;
  readonly relations: ReadonlyMap<string, RelationMetadata>;
  /** The relations of `relations`, each with the query that loads it for a page of rows. */
  readonly includes: ReadonlyMap<string, RelationInclude>;
  readonly pageSize: number;
  readonly maxPageSize: number;
  readonly sql: BindingSql;
}

/**
 * A relation that `include` may embed. Its rows are read through the target's own binding,
 * so they are exactly what a `retrieve` of them would answer.
 */
export interface RelationInclude {
  readonly name: string;
  /** The binding of the related entity: its scope, can.retrieve, exclude and serialize apply. */
  readonly target: BindingDefinition;
  /** A list (one-to-many, many-to-many) or one object or null (many-to-one, one-to-one). */
  readonly many: boolean;
  /**
   * `SELECT "__owner", <every related column> FROM (SELECT <owner id> AS "__owner", <related>.*
   * FROM <related> JOIN ... WHERE <owner id> IN (`: the caller appends the owner ids, then
   * `sqlTail`, then conditions on the related columns (scope, soft delete) as they stand.
   */
  readonly sqlHead: string;
  readonly sqlTail: string;
}

/** SQL fragments prepared once per binding. */
export interface BindingSql {
  readonly dialect: Dialect;
  /** `SELECT <exposed columns> FROM <table>` */
  readonly select: string;
  /** `SELECT <exposed columns>, COUNT(*) OVER () AS "__count" FROM <table>`: a page and its total in one query. */
  readonly selectCounted: string;
  /** `<table>` */
  readonly from: string;
  /** Condition that hides soft-deleted rows, or ''. */
  readonly notDeleted: string;
  /** Escaped primary key column. */
  readonly pk: string;
  /** Every column (not only exposed ones), for loading rows that are written back. */
  readonly selectAll: string;
  /** The column list of `selectAll` (`<column> AS <property>, ...`), for `RETURNING` it. */
  readonly columns: string;
}

export type { FieldInfo };
