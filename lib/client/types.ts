/**
 * What the client needs of a WebSocket: the browser's `WebSocket` and the `ws` package's
 * both fit. Messages are read from `event.data` (text frames).
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** `globalThis.WebSocket` in browsers (and Node 22+); `WebSocket` of the `ws` package in Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Names of the three frame members, as configured on the server (`protocol` module option). */
export interface FrameKeys {
  eventKey?: string;
  idKey?: string;
  dataKey?: string;
}

export type Id = string | number;

/** A row as it travels: the entity's exposed columns. */
export type Row = Record<string, unknown>;

/** Operators of the filter language (PROTOCOL.md section 3). */
export interface FilterOperators<V> {
  eq?: V | null;
  ne?: V | null;
  gt?: V;
  gte?: V;
  lt?: V;
  lte?: V;
  in?: V[];
  nin?: V[];
  like?: string;
  ilike?: string;
  isNull?: boolean;
}

/** `{"status": "open", "price": {"gte": 10}, "$or": [...]}`. */
export type Filter<T> = { [K in keyof T]?: T[K] | null | FilterOperators<T[K]> } & {
  $or?: Filter<T>[];
  $and?: Filter<T>[];
};

export type Order<T> = { [K in keyof T]?: 'ASC' | 'DESC' | 'asc' | 'desc' };

export interface ListQuery<T> {
  page?: number;
  limit?: number;
  order?: Order<T>;
  filter?: Filter<T>;
  include?: string[];
}

export interface SearchQuery<T> extends ListQuery<T> {
  /** Matches the binding's `searchFields` (case-insensitive contains). */
  q?: string;
}

/** The reply of `list` and `search`. */
export interface Page<T> {
  page: number;
  limit: number;
  count: number;
  rows: T[];
}

/** What to subscribe to: one object, the rows of a filter, or (empty) every change of the model. */
export type SubscribeTarget<T> = { id: Id } | { filter?: Filter<T> };

/**
 * A push frame (PROTOCOL.md section 4): `event` is `<app>.<Model>.created|updated|deleted`,
 * `room` the room it came through, `seq` its number in that room, `change` the id of the
 * change (equal on every room), `data` the object (its last state for a delete) and, on
 * `updated`, `changes` the names of the changed columns. With custom frame keys the
 * frame's own members are kept and `event` and `data` are added under these names.
 */
export interface Push<T = Row> {
  event: string;
  room: string;
  seq: number;
  change: string;
  data: T;
  changes?: string[];
  [member: string]: unknown;
}

/** A frame the server sent on its own that is not a push: a broadcast, a channel message. */
export interface ServerMessage {
  event: string;
  data: unknown;
  room?: string;
  [member: string]: unknown;
}

/** Per-request options. */
export interface RequestOptions {
  /** Milliseconds to wait for the reply (default: the client's `timeout`); 0 waits forever. */
  timeout?: number;
}
