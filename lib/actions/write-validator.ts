import { Inject, Injectable } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError, type ErrorDetail } from '../protocol/binding-error.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import { isPlainObject } from '../protocol/plain-object.js';

export type WriteMode = 'create' | 'update';

/** Column types whose values are JSON structures (objects, arrays) rather than scalars. */
const STRUCTURED_TYPES: ReadonlySet<string> = new Set(['json', 'jsonb', 'simple-json', 'simple-array', 'hstore', 'geometry', 'geography']);

/** What a write may change, after every check passed. */
export interface CheckedWrite {
  values: Record<string, unknown>;
  /** The `version` the client based its update on, when the entity has a version column and it sent one. */
  expectedVersion?: number;
}

/**
 * Checks a write before it reaches the database: only writable columns, required ones
 * present on create, values of the column's type, then the class-validator rules of
 * `createDto`/`updateDto` or of the entity. Every problem is reported, not only the first.
 */
@Injectable()
export class WriteValidator {
  constructor(@Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions) {}

  async check(binding: BindingDefinition, input: unknown, mode: WriteMode): Promise<CheckedWrite> {
    if (!isPlainObject(input)) throw BindingError.badRequest(`${mode} needs an object of fields`);
    const details: ErrorDetail[] = [];
    const values: Record<string, unknown> = {};
    const excluded = new Set<string>(binding.options.exclude ?? []);
    const pk = binding.primary.propertyName;
    const version = binding.versionColumn?.propertyName;
    let expectedVersion: number | undefined;
    for (const [field, value] of Object.entries(input)) {
      if (field === pk) {
        if (mode === 'create') details.push({ field, constraint: 'forbidden', message: `${field} is chosen by the server and cannot be sent on create` });
        continue;
      }
      if (field === version && mode === 'update') {
        if (typeof value === 'number' && Number.isSafeInteger(value)) expectedVersion = value;
        else details.push({ field, constraint: 'isInt', message: `${field} must be an integer` });
        continue;
      }
      const column = binding.writable.get(field);
      if (!column) {
        const why = excluded.has(field) || binding.allFields.has(field) ? 'is not writable' : 'is not a known field';
        details.push({ field, constraint: 'whitelist', message: `${field} ${why}` });
        continue;
      }
      const problem = this.typeProblem(binding, column, value);
      if (problem) details.push({ field, constraint: problem.constraint, message: `${field} ${problem.message}` });
      else values[field] = column && value !== null && binding.allFields.get(field)!.kind === 'date' ? new Date(value as string) : value;
    }
    if (mode === 'create') {
      for (const field of binding.required) {
        if (!(field in values) && !details.some((d) => d.field === field)) details.push({ field, constraint: 'isDefined', message: `${field} is required` });
      }
    }
    // The decorators see the values that passed the checks above, so one reply lists every problem.
    const dto = mode === 'create' ? binding.options.createDto : binding.options.updateDto;
    const errors = await validate(plainToInstance((dto ?? binding.target) as new () => object, { ...values }) as object, {
      skipUndefinedProperties: true,
      forbidUnknownValues: false,
      validationError: { target: false, value: false },
    });
    details.push(...flatten(errors));
    if (details.length) throw BindingError.badRequest('Invalid input', details);
    return { values, expectedVersion };
  }

  /**
   * The data of a custom action declared with a `dto`: an object whose properties are all
   * known to the class (as with CRUD writes, unknown ones are refused) and pass its rules.
   */
  async checkDto(dto: new () => object, data: unknown): Promise<object> {
    if (!isPlainObject(data)) throw BindingError.badRequest('data must be an object');
    const instance = plainToInstance(dto, { ...data }) as object;
    const errors = await validate(instance, {
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: false,
      validationError: { target: false, value: false },
    });
    const details = flatten(errors);
    if (details.length) throw BindingError.badRequest('Invalid input', details);
    return instance;
  }

  /** The JSON type a column accepts; the DTO or entity decorators refine it afterwards. */
  private typeProblem(binding: BindingDefinition, column: ColumnMetadata, value: unknown): { constraint: string; message: string } | undefined {
    if (value === null) return column.isNullable ? undefined : { constraint: 'isNotEmpty', message: 'cannot be null' };
    const kind = binding.allFields.get(column.propertyName)!.kind;
    switch (kind) {
      case 'number': {
        const integer = typeof column.type === 'string' && column.type.includes('int');
        if (typeof value !== 'number' || !Number.isFinite(value)) return { constraint: 'isNumber', message: 'must be a number' };
        if (integer && !Number.isSafeInteger(value)) return { constraint: 'isInt', message: 'must be an integer within ±2^53' };
        return undefined;
      }
      case 'string':
        if (typeof value !== 'string') return { constraint: 'isString', message: 'must be a string' };
        if (value.length > this.options.limits.stringLength)
          return { constraint: 'maxLength', message: `must be at most ${this.options.limits.stringLength} characters` };
        return undefined;
      case 'boolean':
        return typeof value === 'boolean' ? undefined : { constraint: 'isBoolean', message: 'must be a boolean' };
      case 'date':
        return (typeof value === 'string' || typeof value === 'number') && !Number.isNaN(new Date(value).getTime())
          ? undefined
          : { constraint: 'isDate', message: 'must be an ISO 8601 date' };
      default:
        return (
          structureProblem(column, value) ??
          (JSON.stringify(value).length > this.options.limits.stringLength ? { constraint: 'maxLength', message: 'is too large' } : undefined)
        );
    }
  }
}

/**
 * bigint, decimal, time... columns take a scalar: the driver cannot bind an object or an
 * array, and would fail with an internal error instead of the client's bad_request.
 * `simple-array` takes a list of strings (TypeORM joins it); JSON columns take any JSON.
 */
function structureProblem(column: ColumnMetadata, value: unknown): { constraint: string; message: string } | undefined {
  const type = typeof column.type === 'string' ? column.type : '';
  if (type === 'simple-array') {
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? undefined : { constraint: 'type', message: 'must be an array of strings' };
  }
  if (column.isArray || STRUCTURED_TYPES.has(type)) return undefined;
  return typeof value === 'object' ? { constraint: 'type', message: 'must be a string, number or boolean' } : undefined;
}

function flatten(errors: ValidationError[], prefix = ''): ErrorDetail[] {
  return errors.flatMap((error) => {
    const field = prefix + error.property;
    const own = Object.entries(error.constraints ?? {}).map(([constraint, message]) => ({ field, constraint, message }));
    return [...own, ...flatten(error.children ?? [], `${field}.`)];
  });
}
