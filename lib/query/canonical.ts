import { createHash } from 'node:crypto';
import type { FilterNode } from './filter.types.js';

/**
 * One text per meaning, so that equal filters share one filter room: and/or children are
 * flattened, sorted and de-duplicated, `in`/`nin` lists sorted and de-duplicated, dates
 * written as ISO strings. No filter gives ''.
 */
export function canonicalFilter(node: FilterNode | undefined): string {
  return node ? canonical(node) : '';
}

/** The room key of a filter: 16 base64url characters (96 bits) of the SHA-256 of its canonical text. */
export function filterHash(node: FilterNode | undefined): string {
  return createHash('sha256').update(canonicalFilter(node)).digest('base64url').slice(0, 16);
}

function canonical(node: FilterNode): string {
  if (node.kind === 'cmp') {
    let value = canonicalValue(node.value);
    if (Array.isArray(value)) value = sortedUnique(value.map((v) => JSON.stringify(v))).map((s) => JSON.parse(s) as unknown);
    return JSON.stringify({ f: node.field, op: node.op, v: value });
  }
  const kind = node.kind;
  const children = sortedUnique(node.nodes.flatMap((n) => (n.kind === kind ? n.nodes : [n])).map(canonical));
  // `(a)` is `a`; `and []` and `or []` stay as they are (true / false).
  return children.length === 1 ? children[0] : `{"${kind}":[${children.join(',')}]}`;
}

function canonicalValue(value: unknown): unknown {
  if (value instanceof Date) return { $date: value.toISOString() };
  if (Array.isArray(value)) return value.map(canonicalValue);
  return value;
}

function sortedUnique(texts: string[]): string[] {
  return [...new Set(texts)].sort();
}
