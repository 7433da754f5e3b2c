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

/**
 * The columns a binding leaves out (`@Binding({ exclude })`), which the client cannot see:
 * either the keys themselves (`'secret' | 'token'`) or the type of the binding's options
 * object, declared `as const` so that its `exclude` keeps its literal keys
 * (`typeof productBinding`).
 */
export type ExcludeSpec<T> = keyof RowOf<T> | { readonly exclude?: readonly (keyof RowOf<T>)[] };

/** The keys an ExcludeSpec names. */
export type ExcludedKeys<T, X> = X extends keyof RowOf<T> ? X : X extends { readonly exclude?: readonly (infer K)[] } ? K & keyof RowOf<T> : never;

/** The instance type when given a class (`typeof Product`), else the type itself. */
export type RowOf<T> = T extends abstract new (...args: any[]) => infer I ? I : T;

/** Keys of T that hold data: an entity's methods never travel. */
type DataKeys<T> = { [K in keyof T]-?: T[K] extends (...args: any[]) => any ? never : K }[keyof T];

/**
 * A row of a binding as the server sends it: the properties of `T` (an entity's instance
 * type, the class itself as `typeof Product`, or any row type) without its methods and
 * without the keys `X` excludes.
 * `BindingRow<Product, 'secret'>` or `BindingRow<Product, typeof productBinding>`.
 */
export type BindingRow<T, X extends ExcludeSpec<T> = never> = Pick<RowOf<T>, Exclude<DataKeys<RowOf<T>>, ExcludedKeys<T, X>>>;

/**
 * The fields of a `create`: every field of the row but `id`, each optional. Which columns may
 * be left out (nullable, generated, with a default) is decided by the entity's column
 * decorators, which a type cannot see, so the server's validation has the last word.
 * Keys the row lacks (excluded ones) are refused as excess properties; `id` always (clients
 * never choose ids).
 */
export type CreateFields<T> = Partial<Omit<T, 'id'>> & { id?: never };

/** The fields of an `update`: any of the row's fields but `id` (which the first argument names). */
export type UpdateFields<T> = Partial<Omit<T, 'id'>> & { id?: never };

/** The fields of a `save`: with an `id`, an update of that row; without, a create. */
export type SaveFields<T> = Partial<Omit<T, 'id'>> & { id?: Id };

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

/** What a push reports: the last part of its event. */
export type ChangeKind = 'created' | 'updated' | 'deleted';

/**
 * The names a subscription's `on` accepts for pushes: the last part (`updated`), the full
 * event of the model's stream (`shop.Product.updated`; any `<stream>.updated` while the
 * stream's type is plain `string`) or `*` (every push).
 */
export type PushEventName<S extends string = string> = ChangeKind | `${S}.${ChangeKind}` | '*';

/** The change kind a push event name stands for (all three for `*`). */
export type ChangeKindOf<N> = N extends `${string}created`
  ? 'created'
  : N extends `${string}updated`
    ? 'updated'
    : N extends `${string}deleted`
      ? 'deleted'
      : ChangeKind;

/**
 * A push frame (PROTOCOL.md section 4): `event` is `<app>.<Model>.created|updated|deleted`,
 * `room` the room it came through, `seq` its number in that room, `change` the id of the
 * change (equal on every room), `data` the object (its last state for a delete) and, on
 * `updated`, `changes` the names of the changed columns. With custom frame keys the
 * frame's own members are kept and `event` and `data` are added under these names.
 */
export interface Push<T = Row, E extends string = string> {
  event: E;
  room: string;
  seq: number;
  change: string;
  data: T;
  changes?: Extract<keyof T, string>[];
  [member: string]: unknown;
}

/**
 * A push of the model `S` with rows `T`, of kind `K` (a union of the kinds' pushes, told
 * apart by `event` when `S` is a literal stream).
 */
export type ModelPush<T = Row, S extends string = string, K extends ChangeKind = ChangeKind> = K extends ChangeKind ? Push<T, `${S}.${K}`> : never;

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
