import type { OrderSpec } from '../query/index.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import type { Row } from '../rows/entity-change.js';

/** Compares two rows as the page's `ORDER BY` does; `undefined` when this pair cannot be compared in memory. */
export type RowComparator = (a: Row, b: Row) => number | undefined;

/**
 * The order of a page (its fields, then the primary key ascending), evaluated in memory,
 * or undefined when it cannot be evaluated exactly as every supported database does.
 * Numbers, dates and booleans compare the same everywhere; strings do not (PostgreSQL
 * sorts by the database's collation, SQLite by bytes), NULLs sort first on SQLite and last
 * on PostgreSQL, and bigint/decimal columns hydrate as strings. So a comparison with a
 * string or a NULL answers undefined, and the caller reads the page again instead.
 */
export function memoryComparator(binding: BindingDefinition, order: OrderSpec): RowComparator | undefined {
  const pk = binding.primary.propertyName;
  const keys: Array<[string, number]> = [...order.map(([field, dir]): [string, number] => [field, dir === 'DESC' ? -1 : 1]), [pk, 1]];
  for (const [field] of keys) {
    const kind = binding.fields.get(field)?.kind;
    // An order field outside the exposed columns is not in the kept rows.
    if (kind !== 'number' && kind !== 'date' && kind !== 'boolean') return undefined;
  }
  return (a, b) => {
    for (const [field, sign] of keys) {
      const x = comparable(a[field]);
      const y = comparable(b[field]);
      if (x === undefined || y === undefined) return undefined;
      if (x !== y) return x < y ? -sign : sign;
    }
    return 0;
  };
}

function comparable(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isNaN(value) ? undefined : value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.getTime();
  return undefined;
}

/**
 * Whether the exposed values of `row` have the types the database hands back for their
 * columns, so that serializing it gives what a fresh read would. A row TypeORM captured
 * from the application's entity may carry what the application assigned (a string in a
 * number column, a date as text): such a row is read again instead.
 */
export function hasStoredTypes(binding: BindingDefinition, row: Row): boolean {
  for (const [name, field] of binding.fields) {
    const value = row[name];
    if (value === null || value === undefined) {
      if (value === undefined) return false;
      continue;
    }
    switch (field.kind) {
      case 'number':
        if (typeof value !== 'number') return false;
        break;
      case 'string':
        if (typeof value !== 'string') return false;
        break;
      case 'boolean':
        if (typeof value !== 'boolean') return false;
        break;
      case 'date':
        if (!(value instanceof Date)) return false;
        break;
      default:
        // bigint, decimal, json, enums of other types: how the driver hands them back is not known here.
        return false;
    }
  }
  return true;
}
