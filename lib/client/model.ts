import type { BindingClient } from './client.js';
import type { LiveList } from './live-list.js';
import type { Subscription } from './subscription.js';
import type { CreateFields, Id, ListQuery, Page, RequestOptions, Row, SaveFields, SearchQuery, SubscribeTarget, UpdateFields } from './types.js';

/**
 * The actions of one model, typed by the row the server sends (`T`, excluded columns
 * already left out: see `client.model`). Each sends `<stream>.<action>` and resolves with
 * the reply data. `S` is the stream's type, which types the event names of subscriptions.
 */
export class ModelClient<T = Row, S extends string = string> {
  constructor(
    private readonly client: BindingClient,
    /** `<app>.<Model>`, e.g. `shop.Product`. */
    readonly stream: S,
  ) {}

  /** The object; `include` loads relations named in the binding's `relations`. */
  retrieve(id: Id, options: RequestOptions & { include?: string[] } = {}): Promise<T> {
    const { include, ...rest } = options;
    return this.request<T>('retrieve', include ? { id, include } : { id }, rest);
  }

  list(query: ListQuery<T> = {}, options?: RequestOptions): Promise<Page<T>> {
    return this.request<Page<T>>('list', query, options);
  }

  search(query: SearchQuery<T> = {}, options?: RequestOptions): Promise<Page<T>> {
    return this.request<Page<T>>('search', query, options);
  }

  /** Every field optional (which may be left out is the server's to say); never `id` or an excluded key. */
  create(fields: CreateFields<T>, options?: RequestOptions): Promise<T> {
    return this.request<T>('create', fields, options);
  }

  /** Changes the fields given of row `id`; never an excluded key. */
  update(id: Id, fields: UpdateFields<T>, options?: RequestOptions): Promise<T> {
    return this.request<T>('update', { ...fields, id }, options);
  }

  /** Updates when `fields.id` names an existing row, creates otherwise. */
  save(fields: SaveFields<T>, options?: RequestOptions): Promise<T> {
    return this.request<T>('save', fields, options);
  }

  delete(id: Id, options?: RequestOptions): Promise<{ id: Id }> {
    return this.request<{ id: Id }>('delete', { id }, options);
  }

  /** `{id}`: one object; `{filter}`: the rows of a filter; `{}`: every change of the model. */
  subscribe(target: SubscribeTarget<T> = {}, options?: RequestOptions): Promise<Subscription<T, S>> {
    return this.client.subscribe<T, S>(this.stream, target, options);
  }

  /**
   * A live list: the page `query` selects (`list`, or `search` when it has a `q`), kept
   * current by the server's frames: `rows`, `count`, `on('change')`, async iteration,
   * `close()`. After a reconnect the page is read again by itself.
   */
  live(query: SearchQuery<T> = {}, options?: RequestOptions): Promise<LiveList<T>> {
    return this.client.live<T>(this.stream, query, options);
  }

  /** A custom action of this model: `request('move', data)` sends `<stream>.move`. */
  request<R = unknown>(action: string, data?: unknown, options?: RequestOptions): Promise<R> {
    return this.client.request<R>(`${this.stream}.${action}`, data, options);
  }
}
