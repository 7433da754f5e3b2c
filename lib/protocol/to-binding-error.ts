import { HttpException } from '@nestjs/common';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { BindingError, HTTP_STATUS, type ErrorCode } from './binding-error.js';

const CODE_OF_STATUS = new Map<number, ErrorCode>(
  (Object.entries(HTTP_STATUS) as [ErrorCode, number][]).filter(([code]) => code !== 'unknown_event').map(([code, status]) => [status, code]),
);

/**
 * Turns anything thrown while serving a request into a BindingError that is safe to send:
 * constraint violations become `conflict`/`bad_request` naming the field (never the SQL),
 * Nest's HttpExceptions keep their status, anything else is `internal`.
 * Returns the error and whether it was unexpected (to be logged).
 */
export function toBindingError(error: unknown, metadata?: EntityMetadata): { error: BindingError; unexpected: boolean } {
  if (error instanceof BindingError) return { error, unexpected: false };
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const message = typeof response === 'string' ? response : typeof (response as any)?.message === 'string' ? (response as any).message : error.message;
    return {
      error: new BindingError(CODE_OF_STATUS.get(status) ?? (status >= 500 ? 'internal' : 'bad_request'), status >= 500 ? 'Internal error' : message),
      unexpected: status >= 500,
    };
  }
  const name = (error as Error)?.name;
  if (name === 'OptimisticLockVersionMismatchError')
    return { error: new BindingError('conflict', 'The row was changed by someone else; reload it'), unexpected: false };
  const constraint = name === 'QueryFailedError' ? constraintError(error as any, metadata) : undefined;
  if (constraint) return { error: constraint, unexpected: false };
  return { error: new BindingError('internal', 'Internal error'), unexpected: true };
}

/** A key naming no row (or a row still referenced). Also the answer to a key naming a row outside the writer's scope, so the two cannot be told apart. */
export function invalidReference(field?: string): BindingError {
  return BindingError.badRequest('A reference points to a row that does not exist, or a row is still referenced', [
    { ...(field ? { field } : {}), constraint: 'foreignKey', message: 'invalid reference' },
  ]);
}

function constraintError(error: { driverError?: any; message?: string }, metadata?: EntityMetadata): BindingError | undefined {
  const driver = error.driverError ?? {};
  const code = String(driver.code ?? '');
  const text = String(driver.message ?? error.message ?? '');
  const detail = String(driver.detail ?? '');
  // SQLite: "UNIQUE constraint failed: product.name"; PostgreSQL: detail "Key (name)=(x) already exists."
  const column = /constraint failed: [^.\s]+\.(\w+)/.exec(text)?.[1] ?? /Key \(([^)]+)\)/.exec(detail)?.[1] ?? driver.column;
  const field = column ? (metadata?.findColumnWithDatabaseName(column)?.propertyName ?? column) : undefined;
  const detailOf = (constraint: string, message: string) => [{ ...(field ? { field } : {}), constraint, message }];
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505') {
    return new BindingError('conflict', `${field ?? 'A value'} must be unique`, detailOf('unique', `${field ?? 'value'} is already taken`));
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503') return invalidReference(field);
  if (code === 'SQLITE_CONSTRAINT_NOTNULL' || code === '23502') {
    return BindingError.badRequest(`${field ?? 'A value'} is required`, detailOf('isDefined', `${field ?? 'value'} cannot be null`));
  }
  if (code === 'SQLITE_CONSTRAINT_CHECK' || code === '23514' || code === '22001' || code === '22003' || code === '22P02') {
    return BindingError.badRequest('A value is out of range for its column', detailOf('check', 'value out of range'));
  }
  return undefined;
}
