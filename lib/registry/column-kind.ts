import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { FieldInfo } from '../query/index.js';

const NUMBER_TYPES = new Set([
  'int',
  'integer',
  'int2',
  'int4',
  'smallint',
  'tinyint',
  'mediumint',
  'float',
  'float4',
  'float8',
  'double',
  'double precision',
  'real',
]);
const STRING_TYPES = new Set([
  'varchar',
  'character varying',
  'text',
  'char',
  'character',
  'nvarchar',
  'nchar',
  'citext',
  'uuid',
  'enum',
  'simple-enum',
  'tinytext',
  'mediumtext',
  'longtext',
  'string',
]);
const BOOLEAN_TYPES = new Set(['boolean', 'bool']);
const DATE_TYPES = new Set(['datetime', 'timestamp', 'timestamptz', 'timestamp with time zone', 'timestamp without time zone', 'date']);

/**
 * How a column's values look in JavaScript, which decides the filter operators and the
 * write checks it gets. bigint and decimal hydrate as strings in TypeORM, so they are
 * `other`: filterable by equality only.
 */
export function columnKind(column: ColumnMetadata): FieldInfo['kind'] {
  const type = column.type;
  if (type === Number) return 'number';
  if (type === String) return 'string';
  if (type === Boolean) return 'boolean';
  if (type === Date) return 'date';
  if (typeof type !== 'string') return 'other';
  const name = type.toLowerCase();
  if (NUMBER_TYPES.has(name)) return 'number';
  if (STRING_TYPES.has(name)) return 'string';
  if (BOOLEAN_TYPES.has(name)) return 'boolean';
  if (DATE_TYPES.has(name)) return 'date';
  return 'other';
}
