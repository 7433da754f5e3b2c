import type { Row } from '../rows/entity-change.js';
import { APPLICATION_FILTER_LIMITS, compileMatcher, filterHash, parseFilter, type FilterNode } from '../query/index.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import type { RoomScope, Scopes } from '../adapters/room-shapes.js';
import type { Room } from './room.js';

/**
 * The rooms of a scoped binding are numbered per scope (PROTOCOL.md section 4): subscribers
 * whose scopes are equal share one room, keyed `<room name>#<scope hash>`, so its `seq` and
 * replay buffer only ever count changes of rows inside that scope. Clients still see the
 * plain room name; `#` never occurs in the hash, so the key splits at its last `#`.
 */
export const scopedKey = (name: string, hash: string): string => `${name}#${hash}`;

/** The room name and scope hash of a key (no hash for the rooms of unscoped bindings). */
export function splitKey(key: string): { name: string; scopeHash?: string } {
  const at = key.lastIndexOf('#');
  return at < 0 ? { name: key } : { name: key.slice(0, at), scopeHash: key.slice(at + 1) };
}

/** The scope of a subscriber, from the parsed filter that `AccessPolicy.scope` gave (undefined: sees every row). */
export function roomScope(binding: BindingDefinition, node: FilterNode | undefined): RoomScope {
  return {
    hash: filterHash(node),
    filter: node ? filterInput(node) : null,
    matches: compileMatcher(node, binding.allFields, binding.sql.dialect),
    requires: required(binding, node),
  };
}

/** A scope announced by another instance; one that does not parse here matches nothing (fail closed). */
export function remoteScope(binding: BindingDefinition, hash: string, filter: unknown): RoomScope {
  try {
    const node = parseFilter(filter, binding.allFields, APPLICATION_FILTER_LIMITS);
    return { hash, filter, matches: compileMatcher(node, binding.allFields, binding.sql.dialect), requires: required(binding, node) };
  } catch {
    return { hash, filter, matches: () => false };
  }
}

/** The row value as the matcher compares it, for string and number fields (match-filter.ts); undefined otherwise. */
export function indexValue(kind: string | undefined, v: unknown): unknown {
  if (kind === 'string') return typeof v === 'string' ? v : undefined;
  if (kind === 'number') return typeof v === 'number' ? v : typeof v === 'bigint' || (typeof v === 'string' && v.trim() !== '') ? Number(v) : undefined;
  return undefined;
}

/** An `eq` on a string or number field that the whole scope requires (the scope itself, or a member of its `and`). */
function required(binding: BindingDefinition, node: FilterNode | undefined): RoomScope['requires'] {
  const candidates = !node ? [] : node.kind === 'and' ? node.nodes : [node];
  for (const n of candidates) {
    if (n.kind !== 'cmp' || n.op !== 'eq') continue;
    const value = indexValue(binding.allFields.get(n.field)?.kind, n.value);
    if (value !== undefined && !Number.isNaN(value)) return { field: n.field, value };
  }
  return undefined;
}

/**
 * The scopes of one binding, found by row: a scope that requires `field = value` is looked
 * up by the row's value, so a change costs one lookup per such field, not one match per
 * tenant; the others are tried one by one. Every candidate is confirmed by its matcher.
 */
export class ScopeSet {
  private readonly all = new Map<string, RoomScope>();
  private readonly indexed = new Map<string, Map<unknown, Set<RoomScope>>>();
  private readonly rest = new Set<RoomScope>();

  constructor(private readonly binding: BindingDefinition) {}

  get size(): number {
    return this.all.size;
  }

  get(hash: string): RoomScope | undefined {
    return this.all.get(hash);
  }

  add(scope: RoomScope): void {
    if (this.all.has(scope.hash)) return;
    this.all.set(scope.hash, scope);
    if (!scope.requires) return void this.rest.add(scope);
    let byValue = this.indexed.get(scope.requires.field);
    if (!byValue) this.indexed.set(scope.requires.field, (byValue = new Map()));
    let set = byValue.get(scope.requires.value);
    if (!set) byValue.set(scope.requires.value, (set = new Set()));
    set.add(scope);
  }

  delete(hash: string): void {
    const scope = this.all.get(hash);
    if (!scope) return;
    this.all.delete(hash);
    if (!scope.requires) return void this.rest.delete(scope);
    const byValue = this.indexed.get(scope.requires.field)!;
    const set = byValue.get(scope.requires.value)!;
    set.delete(scope);
    if (set.size === 0) byValue.delete(scope.requires.value);
    if (byValue.size === 0) this.indexed.delete(scope.requires.field);
  }

  /** The scopes that hold `row`. */
  *holding(row: Row): Iterable<RoomScope> {
    for (const [field, byValue] of this.indexed) {
      const value = indexValue(this.binding.allFields.get(field)?.kind, row[field]);
      for (const scope of (value === undefined ? undefined : byValue.get(value)) ?? []) if (scope.matches(row)) yield scope;
    }
    for (const scope of this.rest) if (scope.matches(row)) yield scope;
  }
}

export const NO_SCOPES: Scopes = { holding: () => [] };

/** A parsed filter written back as filter input (dates become ISO strings, which parseFilter reads back as dates). */
function filterInput(node: FilterNode): unknown {
  if (node.kind === 'cmp') return { [node.field]: { [node.op]: node.value } };
  return { [node.kind === 'and' ? '$and' : '$or']: node.nodes.map(filterInput) };
}

/** The scopes that have rooms on this instance (per stream), and the scoped rooms of each name. */
export class ScopedRooms {
  private readonly scopes = new Map<string, ScopeSet>();
  /** Rooms per scope hash, per stream: a scope is forgotten with its last room. */
  private readonly counts = new Map<string, number>();
  private readonly byName = new Map<string, Set<Room>>();

  /** The scope of `hash` on `stream` if some room here uses it (compiled once). */
  get(stream: string, hash: string): RoomScope | undefined {
    return this.scopes.get(stream)?.get(hash);
  }

  /** Records a new scoped room; true when its scope is new to this instance. */
  add(binding: BindingDefinition, room: Room, scope: RoomScope): boolean {
    let set = this.byName.get(room.name);
    if (!set) this.byName.set(room.name, (set = new Set()));
    set.add(room);
    let scopes = this.scopes.get(binding.stream);
    if (!scopes) this.scopes.set(binding.stream, (scopes = new ScopeSet(binding)));
    const count = `${binding.stream}#${scope.hash}`;
    this.counts.set(count, (this.counts.get(count) ?? 0) + 1);
    const added = !scopes.get(scope.hash);
    scopes.add(scope);
    return added;
  }

  remove(stream: string, room: Room): void {
    const set = this.byName.get(room.name);
    set?.delete(room);
    if (set?.size === 0) this.byName.delete(room.name);
    const count = `${stream}#${room.scopeHash}`;
    const left = (this.counts.get(count) ?? 1) - 1;
    if (left > 0) return void this.counts.set(count, left);
    this.counts.delete(count);
    this.scopes.get(stream)?.delete(room.scopeHash!);
  }

  /** The scopes of `stream` in use here. */
  of(stream: string): Scopes {
    return this.scopes.get(stream) ?? NO_SCOPES;
  }

  /** The scoped rooms named `name` (one per scope). */
  named(name: string): Iterable<Room> {
    return this.byName.get(name) ?? [];
  }
}
