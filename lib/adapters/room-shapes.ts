import type { EqualityKey } from '../query/index.js';
import type { BindingDefinition } from '../registry/binding-definition.js';

/**
 * The shapes rooms and adapters exchange. They live here, below the rooms, so that an
 * adapter (which the rooms call down into) never imports the rooms.
 */

type Row = Record<string, unknown>;

/** One kept push: its frame, and the row it carried, for the per-subscriber checks on replay. */
export interface KeptPush {
  seq: number;
  at: number;
  frame: string;
  row: Record<string, unknown> | undefined;
}

/** A room a change goes through: the name clients see, and the key of the room (per scope) that numbers it. */
export interface RoomTarget {
  room: string;
  key: string;
}

/** A change serialized once, with the frame of each room it goes through, most specific first. */
export interface PreparedPush {
  stream: string;
  changeId: string;
  /** Every column of the row, for the per-subscriber checks. */
  row: Row | undefined;
  /** The frame before `"room"` and after `"seq"`, the same in every room: what replay buffers keep. */
  head: string;
  tail: string;
  /** `key`: the numbering room when it is not `room` itself (a scope's room of a scoped binding). */
  frames: Array<{ room: string; key?: string; seq: number; frame: string }>;
}

/** A filter room as `roomsFor` matches it (a local Room, or one registered by another instance). */
export interface FilterTarget {
  name: string;
  key: string;
  scopeHash?: string;
  matches?: (row: Row) => boolean;
  /** The equality its filter requires, to find it by the row's value (query/filter-index.ts). */
  keys?: EqualityKey;
}

/** How to create a room when the first subscriber arrives. */
export interface RoomSpec {
  name: string;
  kind: RoomKind;
  binding?: BindingDefinition;
  matches?: (row: Row) => boolean;
  /** For filter rooms: the equality the filter requires, to find the room by row value. */
  keys?: EqualityKey;
  /** For filter rooms: the filter as the client sent it (validated), to share with other instances. */
  filter?: unknown;
}

/** One scope of a binding: its hash (of the canonical filter), the filter as JSON input (to share with other instances), its matcher. */
export interface RoomScope {
  hash: string;
  filter: unknown;
  matches: (row: Row) => boolean;
  /** A `field = value` the scope requires (the usual tenant scope), to find it by the row's value instead of trying every scope. */
  requires?: { field: string; value: unknown };
}

/** What `roomsFor` needs of the scopes in use: those that hold a row. */
export interface Scopes {
  holding(row: Row): Iterable<RoomScope>;
}

export type RoomKind = 'instance' | 'filter' | 'model' | 'custom';
