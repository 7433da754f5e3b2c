import type { BindingClient } from './client.js';
import type { Subscription } from './subscription.js';
import type { Id, ListQuery, Page, RequestOptions, Row, SearchQuery, SubscribeTarget } from './types.js';

/**
 * The actions of one model (`client.model<Product>('shop.Product')`), typed by the
 * entity's shape. Each sends `<stream>.<action>` and resolves with the reply data.
 */
export class ModelClient<T = Row> {
  constructor(
    private readonly client: BindingClient,
    /** `<app>.<Model>`, e.g. `shop.Product`. */
    readonly stream: string,
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

  create(fields: Partial<T>, options?: RequestOptions): Promise<T> {
    return this.request<T>('create', fields, options);
  }

  update(id: Id, fields: Partial<T>, options?: RequestOptions): Promise<T> {
    return this.request<T>('update', { ...fields, id }, options);
  }

  /** Updates when `fields.id` names an existing row, creates otherwise. */
  save(fields: Partial<T> & { id?: Id }, options?: RequestOptions): Promise<T> {
    return this.request<T>('save', fields, options);
  }

  delete(id: Id, options?: RequestOptions): Promise<{ id: Id }> {
    return this.request<{ id: Id }>('delete', { id }, options);
  }

  /** `{id}`: one object; `{filter}`: the rows of a filter; `{}`: every change of the model. */
  subscribe(target: SubscribeTarget<T> = {}, options?: RequestOptions): Promise<Subscription<T>> {
    return this.client.subscribe<T>(this.stream, target, options);
  }

  /** A custom action of this model: `request('move', data)` sends `<stream>.move`. */
  request<R = unknown>(action: string, data?: unknown, options?: RequestOptions): Promise<R> {
    return this.client.request<R>(`${this.stream}.${action}`, data, options);
  }
}
