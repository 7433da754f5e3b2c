import type { BindingClientError } from './errors.js';

/**
 * An async iterator with its own buffer (values wait until read), fed by its owner: the
 * pushes of a subscription, the changes of a live list. `finish(error)` ends it; a pending
 * or later `next()` then rejects with that error once, and reports done afterwards.
 */
export class BufferedIterator<P> implements AsyncIterableIterator<P> {
  private readonly buffer: P[] = [];
  private waiter?: { resolve: (result: IteratorResult<P>) => void; reject: (error: unknown) => void };
  private done = false;
  private error?: BindingClientError;

  constructor(private readonly detach: (iterator: BufferedIterator<P>) => void) {}

  put(value: P): void {
    if (this.done) return;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter.resolve({ value, done: false });
    } else {
      this.buffer.push(value);
    }
  }

  finish(error?: BindingClientError): void {
    if (this.done) return;
    this.done = true;
    this.error = error;
    const waiter = this.waiter;
    if (!waiter) return;
    this.waiter = undefined;
    this.error = undefined;
    if (error) waiter.reject(error);
    else waiter.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<P>> {
    if (this.buffer.length > 0) return Promise.resolve({ value: this.buffer.shift()!, done: false });
    if (this.done) {
      const error = this.error;
      this.error = undefined;
      return error ? Promise.reject(error) : Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<P>> {
    this.buffer.length = 0;
    this.finish();
    this.detach(this);
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<P> {
    return this;
  }
}

/**
 * The async iterators of one owner (a subscription, a live list): each gets every value put
 * from its start on; `finish(error)` ends them all, and an iterator started later is already over.
 */
export class IteratorGroup<P> {
  private readonly open = new Set<BufferedIterator<P>>();
  private finished = false;

  start(): BufferedIterator<P> {
    const iterator = new BufferedIterator<P>((it) => this.open.delete(it));
    if (this.finished) iterator.finish();
    else this.open.add(iterator);
    return iterator;
  }

  put(value: P): void {
    for (const iterator of this.open) iterator.put(value);
  }

  finish(error?: BindingClientError): void {
    this.finished = true;
    for (const iterator of this.open) iterator.finish(error);
    this.open.clear();
  }
}
