import type { Dialect, FieldInfo, FieldMap, FilterNode, OrderSpec } from './filter.types.js';
import { containsPattern, likeToGlob } from './like-pattern.js';

/** How compiled SQL refers to columns and values; supplied by the caller (a QueryBuilder, a raw query). */
export interface SqlContext {
  dialect: Dialect;
  /** Quotes an identifier, e.g. `"price"`. */
  escape(name: string): string;
  /**
   * Registers a parameter and returns its placeholder text (`?`, `$3`, `:p3`...). Values
   * arrive as the filter holds them (string, number, boolean, Date, null never): the
   * caller converts them for its driver.
   */
  param(field: string, value: unknown): string;
  /**
   * Registers a whole `in`/`nin` list as one parameter: a JSON array text on SQLite, an
   * array on PostgreSQL. Optional; without it each value is its own parameter. With it a
   * filter of many long lists stays far below the databases' parameter limits (SQLite
   * 32,766, PostgreSQL 65,535).
   */
  paramList?(field: string, values: unknown[]): string;
}

/** More terms than this in one and/or are grouped, so no expression is nested deeper than SQLite's 1,000. */
const FLAT_TERMS = 16;

const COMPARISONS: Readonly<Record<string, string>> = { eq: '=', ne: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' };

/**
 * A FilterNode as a WHERE condition (without the word WHERE). Values only ever reach the
 * SQL through `ctx.param`. NULL follows SQL: `ne` and `nin` are not true for a NULL column.
 */
export function compileWhere(node: FilterNode, fields: FieldMap, ctx: SqlContext): string {
  if (node.kind === 'and' || node.kind === 'or') {
    if (node.nodes.length === 0) return node.kind === 'and' ? '1=1' : '1=0';
    const parts = node.nodes.map((n) => compileWhere(n, fields, ctx));
    return parts.length === 1 ? parts[0] : group(parts, node.kind === 'and' ? ' AND ' : ' OR ');
  }
  const { field, op, value } = node;
  const info = fieldInfo(fields, field);
  const col = ctx.escape(info.column);
  const pg = ctx.dialect === 'postgres';
  switch (op) {
    case 'eq':
    case 'ne':
      if (value === null) return `${col} ${op === 'eq' ? 'IS NULL' : 'IS NOT NULL'}`;
      return `${col} ${COMPARISONS[op]} ${ctx.param(field, value)}`;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      // Byte order on PostgreSQL too, like SQLite's BINARY and the in-memory matcher;
      // the column's own collation (en_US...) would order strings differently.
      const lhs = pg && info.kind === 'string' ? `${col} COLLATE "C"` : col;
      return `${lhs} ${COMPARISONS[op]} ${ctx.param(field, value)}`;
    }
    case 'isNull':
      return `${col} ${value ? 'IS NULL' : 'IS NOT NULL'}`;
    case 'in':
    case 'nin': {
      const values = value as unknown[];
      // `IN ()` is a syntax error on PostgreSQL; an empty list matches nothing / everything.
      if (values.length === 0) return op === 'in' ? '1=0' : '1=1';
      if (ctx.paramList) {
        const list = ctx.paramList(field, values);
        if (pg) return `${col} ${op === 'in' ? '= ANY' : '<> ALL'}(${list})`;
        return `${col} ${op === 'in' ? 'IN' : 'NOT IN'} (SELECT value FROM json_each(${list}))`;
      }
      const list = values.map((v) => ctx.param(field, v)).join(', ');
      return `${col} ${op === 'in' ? 'IN' : 'NOT IN'} (${list})`;
    }
    case 'like':
      // SQLite's LIKE ignores ASCII case; GLOB is its case-sensitive match.
      return pg ? `${col} LIKE ${ctx.param(field, value)}` : `${col} GLOB ${ctx.param(field, likeToGlob(value as string))}`;
    case 'ilike':
      return insensitiveLike(col, ctx.param(field, value), pg);
    case 'contains':
      if (pg) return insensitiveLike(col, ctx.param(field, containsPattern(value as string)), pg);
      // SQLite's LIKE steps through '%q%' one character at a time (text × q per row); instr
      // compares with memcmp, ~35× faster on a near miss. LOWER folds ASCII only, as LIKE does.
      return `instr(LOWER(${col}), LOWER(${ctx.param(field, value)})) > 0`;
  }
}

/** `ORDER BY` terms (without the words); '' when empty. NULLs sort as the largest value on both dialects. */
export function compileOrder(order: OrderSpec, fields: FieldMap, ctx: SqlContext): string {
  return order
    .map(([field, dir]) => {
      const info = fieldInfo(fields, field);
      const col = ctx.escape(info.column) + (ctx.dialect === 'postgres' && info.kind === 'string' ? ' COLLATE "C"' : '');
      return `${col} ${dir === 'DESC' ? 'DESC NULLS FIRST' : 'ASC NULLS LAST'}`;
    })
    .join(', ');
}

/**
 * `(a OR b OR ...)`; a long list becomes a balanced tree of groups. SQLite parses `a OR b OR c`
 * as ((a OR b) OR c), one level per term, and refuses a tree deeper than 1,000.
 */
function group(parts: string[], joiner: string): string {
  if (parts.length <= FLAT_TERMS) return `(${parts.join(joiner)})`;
  const half = Math.ceil(parts.length / 2);
  return `(${group(parts.slice(0, half), joiner)}${joiner}${group(parts.slice(half), joiner)})`;
}

function insensitiveLike(col: string, placeholder: string, pg: boolean): string {
  // PostgreSQL's LIKE escape is backslash by default; SQLite has none unless told.
  return pg ? `${col} ILIKE ${placeholder}` : `LOWER(${col}) LIKE LOWER(${placeholder}) ESCAPE '\\'`;
}

function fieldInfo(fields: FieldMap, field: string): FieldInfo {
  const info = fields.get(field);
  // parseFilter/parseOrder only let known fields through, so this is a programming error.
  if (!info) throw new Error(`query: field "${field}" is not in the FieldMap the filter was parsed with`);
  return info;
}
