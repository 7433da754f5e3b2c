import type { Row } from '../changes/entity-change.js';
import { compileMatcher, filterHash, parseFilter, type FilterNode } from '../query/index.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
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

/** One scope of a binding: its hash (of the canonical filter), the filter as JSON input (to share with other instances), its matcher. */
export interface RoomScope {
  hash: string;
  filter: unknown;
  matches: (row: Row) => boolean;
}

/** A scope is the application's, not a client's: generous limits, as AccessPolicy applies. */
const SCOPE_LIMITS = { depth: 8, inValues: 100_000, stringLength: 1_000_000 };

/** The scope of a subscriber, from the parsed filter that `AccessPolicy.scope` gave (undefined: sees every row). */
export function roomScope(binding: BindingDefinition, node: FilterNode | undefined): RoomScope {
  return { hash: filterHash(node), filter: node ? filterInput(node) : null, matches: compileMatcher(node, binding.allFields, binding.sql.dialect) };
}

/** A scope announced by another instance; one that does not parse here matches nothing (fail closed). */
export function remoteScope(binding: BindingDefinition, hash: string, filter: unknown): RoomScope {
  try {
    return { hash, filter, matches: compileMatcher(parseFilter(filter, binding.allFields, SCOPE_LIMITS), binding.allFields, binding.sql.dialect) };
  } catch {
    return { hash, filter, matches: () => false };
  }
}

/** A parsed filter written back as filter input (dates become ISO strings, which parseFilter reads back as dates). */
function filterInput(node: FilterNode): unknown {
  if (node.kind === 'cmp') return { [node.field]: { [node.op]: node.value } };
  return { [node.kind === 'and' ? '$and' : '$or']: node.nodes.map(filterInput) };
}

/** The scopes that have rooms on this instance (per stream), and the scoped rooms of each name. */
export class ScopedRooms {
  private readonly scopes = new Map<string, Map<string, { scope: RoomScope; rooms: number }>>();
  private readonly byName = new Map<string, Set<Room>>();

  /** The scope of `hash` on `stream` if some room here uses it (compiled once). */
  get(stream: string, hash: string): RoomScope | undefined {
    return this.scopes.get(stream)?.get(hash)?.scope;
  }

  /** Records a new scoped room; true when its scope is new to this instance. */
  add(stream: string, room: Room, scope: RoomScope): boolean {
    let set = this.byName.get(room.name);
    if (!set) this.byName.set(room.name, (set = new Set()));
    set.add(room);
    let scopes = this.scopes.get(stream);
    if (!scopes) this.scopes.set(stream, (scopes = new Map()));
    const entry = scopes.get(scope.hash);
    if (entry) entry.rooms++;
    else scopes.set(scope.hash, { scope, rooms: 1 });
    return !entry;
  }

  remove(stream: string, room: Room): void {
    const set = this.byName.get(room.name);
    set?.delete(room);
    if (set?.size === 0) this.byName.delete(room.name);
    const scopes = this.scopes.get(stream);
    const entry = scopes?.get(room.scopeHash!);
    if (entry && --entry.rooms === 0) scopes!.delete(room.scopeHash!);
  }

  /** The scopes of `stream` in use here. */
  of(stream: string): Iterable<RoomScope> {
    return [...(this.scopes.get(stream)?.values() ?? [])].map((entry) => entry.scope);
  }

  /** The scoped rooms named `name` (one per scope). */
  named(name: string): Iterable<Room> {
    return this.byName.get(name) ?? [];
  }
}
