/** The operators a client may use in a `filter` (PROTOCOL.md section 3). */
export type FilterOperator = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'nin' | 'like' | 'ilike' | 'isNull';

/**
 * A parsed, validated filter. `contains` is internal: `search {q}` produces it, clients
 * cannot write it. Values are already normalized: dates are `Date`, `in`/`nin` hold arrays.
 */
export type FilterNode =
  { kind: 'and'; nodes: FilterNode[] } | { kind: 'or'; nodes: FilterNode[] } | { kind: 'cmp'; field: string; op: FilterOperator | 'contains'; value: unknown };

/** What the filter language needs to know of one exposed entity property. */
export interface FieldInfo {
  kind: 'string' | 'number' | 'boolean' | 'date' | 'other';
  nullable: boolean;
  /** Database column name. */
  column: string;
}

/** Key: entity property name. */
export type FieldMap = ReadonlyMap<string, FieldInfo>;

/** The module option `limits` as far as filters are concerned. */
export interface FilterLimits {
  /** Deepest nesting: the outer filter is 1, each `$or`/`$and` adds one (default 4). */
  depth: number;
  /** Most values in one `in`/`nin` (default 1,000). */
  inValues: number;
  /** Longest string value (default 10,000). */
  stringLength: number;
  /** Longest `like`/`ilike` pattern or search `q`, in characters as sent (default 100). */
  patternLength: number;
  /** Most field conditions in one filter, counted through every `$or`/`$and` (default 100). */
  terms: number;
  /** Most characters of all `like`/`ilike` patterns of one filter together (default 100). */
  patternTotal: number;
}

/** Limits for filters the application writes (a binding's `scope`), not a client: generous ones. */
export const APPLICATION_FILTER_LIMITS: FilterLimits = {
  depth: 8,
  inValues: 100_000,
  stringLength: 1_000_000,
  patternLength: 1_000_000,
  terms: 100_000,
  patternTotal: 1_000_000,
};

export type SortDirection = 'ASC' | 'DESC';
export type OrderSpec = Array<[field: string, dir: SortDirection]>;
export type Dialect = 'sqlite' | 'postgres';
