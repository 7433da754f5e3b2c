import type { CrudAction } from '../bindings.constants.js';
import type { RequestContext } from './request-context.interface.js';

/** `(user, object | input) => boolean`: false answers `forbidden`. */
export type CanFunction<T = any> = (user: any, subject: T) => boolean | Promise<boolean>;

/** Options of `@Binding()`. Every field is optional. */
export interface BindingOptions<T = any> {
  /** First part of the stream name `<app>.<Model>`; default: the module option `defaultApp` ("app"). */
  app?: string;
  /** Second part of the stream name; default: the entity class name. */
  name?: string;
  /** The actions served; default: all of them. */
  actions?: readonly CrudAction[];
  /** Columns never sent out and never writable. */
  exclude?: readonly (keyof T & string)[];
  /** Columns a `filter` may name; default: every exposed column. */
  filterFields?: readonly (keyof T & string)[];
  /** Columns an `order` may name; default: every exposed column. */
  orderFields?: readonly (keyof T & string)[];
  /** Columns `q` searches (case-insensitive contains); default: every exposed string column. */
  searchFields?: readonly (keyof T & string)[];
  /** Rows per page when the request gives no `limit` (default 25). */
  pageSize?: number;
  /** Largest `limit` honoured; larger ones are clamped (default 100). */
  maxPageSize?: number;
  /**
   * Actions whose success also subscribes the socket to the object's room; with `'list'` or
   * `'search'`, a (not live) list/search subscribes to the filter room of its `filter`. Default `['retrieve']`.
   */
  autoSubscribe?: readonly ('retrieve' | 'create' | 'update' | 'save' | 'list' | 'search')[];
  /** Relations a read may `include`; anything else is `bad_request`. Each target needs a `@Binding` serving `retrieve`, whose scope, can.retrieve, exclude and serialize its included rows obey. */
  relations?: readonly string[];
  /** Row-level filter ANDed into every read, write and push for this user. */
  scope?: (user: any) => Record<string, unknown> | undefined | null;
  /** Per-action permission checks, custom actions included. */
  can?: Partial<Record<CrudAction | string, CanFunction<T>>>;
  /** Last step before a row leaves the server (after `exclude`); runs once per push, not per socket. */
  serialize?: (row: Record<string, unknown>) => Record<string, unknown>;
  /** class-validator class for `create`; default: the entity's own decorators. */
  createDto?: new () => object;
  /** class-validator class for `update` and `save`; default: the entity's own decorators. */
  updateDto?: new () => object;
}

/** A custom handler's signature: `(data, ctx) => reply data`. */
export type StreamHandler = (data: any, ctx: RequestContext) => unknown;
