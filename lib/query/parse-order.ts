import { BindingError } from '../protocol/binding-error.js';
import type { OrderSpec, SortDirection } from './filter.types.js';

/**
 * Validates a client's `order`, `{"price": "DESC", "name": "asc"}`, against `orderFields`.
 * Key order is sort priority. `undefined`/`null` give `[]`.
 */
export function parseOrder(input: unknown, orderFields: ReadonlySet<string>): OrderSpec {
  if (input === undefined || input === null) return [];
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw fail('order must be a JSON object such as {"price": "DESC"}', undefined, 'type');
  }
  const spec: OrderSpec = [];
  for (const [field, dir] of Object.entries(input)) {
    // orderFields comes from entity metadata; `__proto__` and friends are never in it.
    if (!orderFields.has(field)) throw fail(`order.${field}: "${field}" is not an orderable field`, field, 'orderFields');
    const upper = typeof dir === 'string' ? dir.toUpperCase() : undefined;
    if (upper !== 'ASC' && upper !== 'DESC') throw fail(`order.${field} must be "ASC" or "DESC"`, field, 'type');
    spec.push([field, upper]);
  }
  return spec;
}

/**
 * The REST form `order=-price,name` (a leading minus means DESC) as the object `parseOrder`
 * takes. Empty segments are ignored; a field named twice is a `bad_request`.
 */
export function parseOrderString(s: string): Record<string, SortDirection> {
  // No prototype: a segment named `__proto__` becomes a plain key that parseOrder rejects.
  const order: Record<string, SortDirection> = Object.create(null);
  for (const segment of s.split(',')) {
    const part = segment.trim();
    if (part === '') continue;
    const desc = part.startsWith('-');
    const field = desc || part.startsWith('+') ? part.slice(1).trim() : part;
    if (field === '') throw fail(`order: "${part}" names no field`, undefined, 'type');
    const spoken = /^(\S+)\s+(asc|desc)$/i.exec(field);
    if (spoken) {
      const [, name, dir] = spoken;
      throw fail(`order: write ${dir.toLowerCase() === 'desc' ? '-' : ''}${name} for "${part}" (a leading minus sorts descending)`, name, 'syntax');
    }
    if (Object.hasOwn(order, field)) throw fail(`order names "${field}" twice`, field, 'type');
    order[field] = desc ? 'DESC' : 'ASC';
  }
  return order;
}

function fail(message: string, field: string | undefined, constraint: string): BindingError {
  return BindingError.badRequest(message, [field === undefined ? { constraint, message } : { field, constraint, message }]);
}
