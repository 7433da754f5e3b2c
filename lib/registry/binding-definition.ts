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
  readonly deleteDateColumn?: ColumnMetadata;
  readonly relations: ReadonlyMap<string, RelationMetadata>;
  readonly pageSize: number;
  readonly maxPageSize: number;
  readonly sql: BindingSql;
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
}

export type { FieldInfo };
