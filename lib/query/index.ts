export type { Dialect, FieldInfo, FieldMap, FilterLimits, FilterNode, FilterOperator, OrderSpec, SortDirection } from './filter.types.js';
export { APPLICATION_FILTER_LIMITS } from './filter.types.js';
export { andFilters, holdsPattern, parseFilter, parseSearch } from './parse-filter.js';
export { parseOrder, parseOrderString } from './parse-order.js';
export { compileOrder, compileWhere, type SqlContext } from './compile-sql.js';
export { compileMatcher, normalizeValue, type RowMatcher } from './match-filter.js';
export { equalityKey, FilterIndex, type EqualityKey } from './filter-index.js';
export { canonicalFilter, filterHash } from './canonical.js';
export { inputKey, sameInput } from './input-key.js';
