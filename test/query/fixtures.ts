import { createRequire } from 'node:module';
import { BindingError } from '../../lib/protocol/binding-error.js';
import type { Dialect, FieldInfo, FieldMap, FilterLimits } from '../../lib/query/index.js';
import type { SqlContext } from '../../lib/query/index.js';

/** A Product-like entity; `createdAt` lives in column `created_at` to prove column mapping. */
export const fields: FieldMap = new Map<string, FieldInfo>([
  ['id', { kind: 'number', nullable: false, column: 'id' }],
  ['name', { kind: 'string', nullable: true, column: 'name' }],
  ['price', { kind: 'number', nullable: true, column: 'price' }],
  ['status', { kind: 'string', nullable: true, column: 'status' }],
  ['active', { kind: 'boolean', nullable: false, column: 'active' }],
  ['createdAt', { kind: 'date', nullable: false, column: 'created_at' }],
  ['meta', { kind: 'other', nullable: true, column: 'meta' }],
]);

export const limits: FilterLimits = { depth: 4, inValues: 1000, stringLength: 10_000, patternLength: 100, terms: 100, patternTotal: 100 };

/** A SqlContext that records every parameter: `?` placeholders for SQLite, `$n` for PostgreSQL. */
/** With `lists`, an `in`/`nin` list is one parameter, as RowStore sends it (JSON text on SQLite, an array on PostgreSQL). */
export function collectingCtx(dialect: Dialect, convert: (v: unknown) => unknown = (v) => v, lists = false) {
  const params: unknown[] = [];
  const fieldsSeen: string[] = [];
  const ctx: SqlContext = {
    dialect,
    escape: (name) => `"${name.replace(/"/g, '""')}"`,
    param: (field, value) => {
      params.push(convert(value));
      fieldsSeen.push(field);
      return dialect === 'postgres' ? `$${params.length}` : '?';
    },
  };
  if (lists) {
    ctx.paramList = (field, values) => {
      const converted = values.map(convert);
      return ctx.param(field, dialect === 'postgres' ? converted : JSON.stringify(converted));
    };
  }
  return { ctx, params, fieldsSeen };
}

/** TypeORM's SQLite datetime text: UTC `YYYY-MM-DD HH:MM:SS.SSS`. */
export function sqliteDatetime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/** better-sqlite3 binds only numbers, strings, bigints, buffers and null. */
export function toSqliteParam(v: unknown): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Date) return sqliteDatetime(v);
  return v;
}

/** Runs `fn`, expects a bad_request BindingError, and returns it for further checks. */
export function badRequest(fn: () => unknown): BindingError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BindingError);
    expect((e as BindingError).code).toBe('bad_request');
    expect((e as BindingError).details?.[0]?.message).toBe((e as BindingError).message);
    return e as BindingError;
  }
  throw new Error('expected a bad_request, but nothing was thrown');
}

// better-sqlite3 ships no types and @types/better-sqlite3 is not installed: describe the little
// the match-vs-* suites use.
interface SqliteStatement {
  all(...params: unknown[]): Array<Record<string, unknown>>;
  run(...params: unknown[]): unknown;
}
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  close(): void;
}
export const Sqlite = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => SqliteDatabase;
