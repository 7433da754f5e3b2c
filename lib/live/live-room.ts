import { createHash } from 'node:crypto';
import { canonicalFilter, type FilterNode, type OrderSpec } from '../query/index.js';

/** The parts of a list or search request that decide its page. */
export interface LiveRequestParts {
  kind: 'list' | 'search';
  page: number;
  limit: number;
  order: OrderSpec;
  filter?: FilterNode;
  search?: FilterNode;
  include: readonly string[];
}

/**
 * `shop.Product#<hash>`: the room of a live list, the same for equal requests (filters in
 * their canonical form, includes in any order). The hash is 16 base64url characters of the
 * SHA-256 of the request's canonical text, so it tells nothing of the request itself.
 */
export function liveRoom(stream: string, request: LiveRequestParts): string {
  const text = JSON.stringify([
    request.kind,
    request.page,
    request.limit,
    request.order,
    canonicalFilter(request.filter),
    canonicalFilter(request.search),
    [...request.include].sort(),
  ]);
  return `${stream}#${createHash('sha256').update(text).digest('base64url').slice(0, 16)}`;
}
