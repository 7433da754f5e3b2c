import { BindingError } from '../protocol/binding-error.js';
import { parseIsoDate } from './dates.js';
import type { FieldInfo, FieldMap, FilterLimits, FilterNode, FilterOperator } from './filter.types.js';
import { hasDanglingEscape } from './like-pattern.js';

const OPERATORS: ReadonlySet<string> = new Set<FilterOperator>(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'like', 'ilike', 'isNull']);
const RANGE_OPERATORS: ReadonlySet<string> = new Set(['gt', 'gte', 'lt', 'lte']);
const RANGE_KINDS: ReadonlySet<FieldInfo['kind']> = new Set(['number', 'string', 'date']);
// Never fields; rejected by name so no code path ever reads or writes through them.
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const TYPE_NAMES: Record<FieldInfo['kind'], string> = {
  string: 'a string',
  number: 'a finite number',
  boolean: 'a boolean',
  date: 'an ISO-8601 date string or a number of milliseconds',
  other: 'a string, number or boolean',
};

/**
 * Validates a client's `filter` and turns it into a FilterNode.
 * `undefined`, `null` and `{}` mean "no filter" and give undefined.
 * Every problem is a `bad_request` whose message names the path, e.g. `filter.price.gte`.
 */
export function parseFilter(input: unknown, fields: FieldMap, limits: FilterLimits): FilterNode | undefined {
  if (input === undefined || input === null) return undefined;
  if (!isPlainObject(input)) throw fail('filter must be a JSON object', { constraint: 'type' });
  if (Object.keys(input).length === 0) return undefined;
  return new FilterParser(fields, limits).object(input, 'filter', 1);
}

/**
 * `search {q}`: a case-insensitive "contains" over `searchFields` (ORed).
 * An empty or blank `q` gives undefined. `searchFields` must be string fields of `fields`.
 */
export function parseSearch(q: unknown, fields: FieldMap, searchFields: readonly string[], limits: FilterLimits): FilterNode | undefined {
  if (q === undefined || q === null) return undefined;
  if (typeof q !== 'string') throw fail('q must be a string', { field: 'q', constraint: 'type' });
  if (q.length > limits.stringLength) {
    throw fail(`q is longer than ${limits.stringLength} characters`, { field: 'q', constraint: 'stringLength' });
  }
  // The database matches `q` against every search field of every row: its cost grows with its length.
  if (q.length > limits.patternLength) {
    throw fail(`q is longer than ${limits.patternLength} characters`, { field: 'q', constraint: 'patternLength' });
  }
  if (q.trim() === '') return undefined;
  if (searchFields.length === 0) throw fail('search is not available: this binding has no searchFields', { field: 'q', constraint: 'searchFields' });
  for (const f of searchFields) {
    // A configuration mistake, not the client's: say how to fix it.
    if (fields.get(f)?.kind !== 'string') throw new Error(`searchFields: "${f}" is not an exposed string property; list only string columns`);
  }
  return collapse(
    'or',
    searchFields.map((field) => ({ kind: 'cmp', field, op: 'contains', value: q })),
  );
}

/** ANDs filters together (the client's filter, the user's scope...), skipping undefined ones. */
export function andFilters(...nodes: (FilterNode | undefined)[]): FilterNode | undefined {
  const present = nodes.filter((n): n is FilterNode => n !== undefined);
  return present.length === 0 ? undefined : collapse('and', present);
}

/** Whether the filter holds a pattern (like, ilike, a search's contains): the costly conditions for a database. */
export function holdsPattern(node: FilterNode | undefined): boolean {
  if (!node) return false;
  if (node.kind === 'and' || node.kind === 'or') return node.nodes.some(holdsPattern);
  return node.op === 'like' || node.op === 'ilike' || node.op === 'contains';
}

/** Builds an and/or node: nested nodes of the same kind are flattened, a single child stands alone. */
function collapse(kind: 'and' | 'or', nodes: FilterNode[]): FilterNode {
  const flat = nodes.flatMap((n) => (n.kind === kind ? n.nodes : [n]));
  return flat.length === 1 ? flat[0] : { kind, nodes: flat };
}

class FilterParser {
  /** Field conditions seen so far, over the whole filter. */
  private terms = 0;
  /** Characters of the like/ilike patterns seen so far: the database's work grows with their sum. */
  private patternChars = 0;

  constructor(
    private readonly fields: FieldMap,
    private readonly limits: FilterLimits,
  ) {}

  /** One filter object at nesting `depth`: its keys are ANDed. */
  object(input: Record<string, unknown>, path: string, depth: number): FilterNode {
    if (depth > this.limits.depth) {
      throw fail(`${path} nests filters deeper than ${this.limits.depth} levels`, { constraint: 'filterDepth' });
    }
    const keys = Object.keys(input);
    if (keys.length === 0) throw fail(`${path} must not be an empty object`, { constraint: 'type' });
    const nodes: FilterNode[] = [];
    for (const key of keys) {
      const keyPath = `${path}.${key}`;
      if (FORBIDDEN_KEYS.has(key)) throw fail(`${keyPath} is not allowed`, { field: key, constraint: 'filterFields' });
      const value = input[key];
      if (key === '$or' || key === '$and') {
        if (!Array.isArray(value) || value.length === 0) throw fail(`${keyPath} must be a non-empty array of filters`, { constraint: 'type' });
        const children = value.map((child, i) => {
          if (!isPlainObject(child)) throw fail(`${keyPath}[${i}] must be a JSON object`, { constraint: 'type' });
          return this.object(child, `${keyPath}[${i}]`, depth + 1);
        });
        nodes.push(collapse(key === '$or' ? 'or' : 'and', children));
        continue;
      }
      if (key.startsWith('$')) throw fail(`${keyPath}: unknown combinator "${key}" (use $or or $and)`, { constraint: 'operator' });
      const info = this.fields.get(key);
      if (!info) throw fail(`${keyPath}: "${key}" is not a filterable field`, { field: key, constraint: 'filterFields' });
      nodes.push(this.field(key, info, value, keyPath));
    }
    return collapse('and', nodes);
  }

  /** `"field": value` (eq) or `"field": {op: value, ...}` (ANDed). */
  private field(field: string, info: FieldInfo, value: unknown, path: string): FilterNode {
    if (!isPlainObject(value)) return this.cmp(field, info, 'eq', value, path);
    const ops = Object.keys(value);
    if (ops.length === 0) throw fail(`${path} must name at least one operator`, { field, constraint: 'operator' });
    return collapse(
      'and',
      ops.map((op) => this.cmp(field, info, op, value[op], `${path}.${op}`)),
    );
  }

  private cmp(field: string, info: FieldInfo, op: string, value: unknown, path: string): FilterNode {
    if (!OPERATORS.has(op)) {
      throw fail(`${path}: unknown operator "${op}" (allowed: ${[...OPERATORS].join(', ')})`, { field, constraint: 'operator' });
    }
    const notFor = () => fail(`${path}: operator ${op} is not allowed on field ${field} (${info.kind} field)`, { field, constraint: 'operator' });
    const node = (v: unknown): FilterNode => ({ kind: 'cmp', field, op: op as FilterOperator, value: v });
    // Every condition costs SQL text, parameters and a test per push: bound their number.
    if (++this.terms > this.limits.terms) {
      throw fail(`${path}: the filter has more than ${this.limits.terms} field conditions`, { field, constraint: 'filterTerms' });
    }

    if (info.kind === 'other' && op !== 'eq' && op !== 'ne' && op !== 'isNull') throw notFor();
    switch (op) {
      case 'eq':
      case 'ne':
        // null means IS NULL / IS NOT NULL, on any field: harmless on a non-nullable one.
        return node(value === null ? null : this.scalar(info, value, path, field));
      case 'isNull':
        if (typeof value !== 'boolean') throw fail(`${path} must be a boolean`, { field, constraint: 'type' });
        return node(value);
      case 'in':
      case 'nin': {
        if (!Array.isArray(value)) throw fail(`${path} must be an array`, { field, constraint: 'type' });
        if (value.length > this.limits.inValues) {
          throw fail(`${path} has ${value.length} values; at most ${this.limits.inValues} are allowed`, { field, constraint: 'inValues' });
        }
        return node(value.map((v, i) => this.scalar(info, v, `${path}[${i}]`, field)));
      }
      case 'like':
      case 'ilike': {
        if (info.kind !== 'string') throw notFor();
        const pattern = this.scalar(info, value, path, field) as string;
        if (pattern.length > this.limits.patternLength) {
          throw fail(`${path} is longer than ${this.limits.patternLength} characters`, { field, constraint: 'patternLength' });
        }
        if ((this.patternChars += pattern.length) > this.limits.patternTotal) {
          throw fail(`${path}: the like/ilike patterns of the filter are longer than ${this.limits.patternTotal} characters together`, {
            field,
            constraint: 'patternTotal',
          });
        }
        if (hasDanglingEscape(pattern)) {
          throw fail(`${path} ends with a lone escape character "\\"; write "\\\\" for a literal backslash`, { field, constraint: 'type' });
        }
        return node(pattern);
      }
      default: // gt gte lt lte
        if (!RANGE_OPERATORS.has(op) || !RANGE_KINDS.has(info.kind)) throw notFor();
        return node(this.scalar(info, value, path, field));
    }
  }

  /** Checks a non-null value against the field's kind and normalizes it (dates become Date). */
  private scalar(info: FieldInfo, value: unknown, path: string, field: string): unknown {
    const wrongType = () => fail(`${path} must be ${TYPE_NAMES[info.kind]}`, { field, constraint: 'type' });
    if (typeof value === 'string' && value.length > this.limits.stringLength) {
      throw fail(`${path} is longer than ${this.limits.stringLength} characters`, { field, constraint: 'stringLength' });
    }
    switch (info.kind) {
      case 'string':
        if (typeof value !== 'string') throw wrongType();
        return value;
      case 'number':
        if (typeof value !== 'number' || !Number.isFinite(value)) throw wrongType();
        return value;
      case 'boolean':
        if (typeof value !== 'boolean') throw wrongType();
        return value;
      case 'date': {
        // Date instances come from server code (a `scope`), never from JSON.
        const date =
          value instanceof Date
            ? new Date(value.getTime())
            : typeof value === 'string'
              ? parseIsoDate(value)
              : typeof value === 'number' && Number.isFinite(value)
                ? new Date(value)
                : undefined;
        if (!date || Number.isNaN(date.getTime())) throw wrongType();
        return date;
      }
      default:
        if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) return value;
        throw wrongType();
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function fail(message: string, detail: { field?: string; constraint: string }): BindingError {
  return BindingError.badRequest(message, [{ ...detail, message }]);
}
