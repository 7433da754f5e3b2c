import { Listeners } from './emitter.js';
import { IteratorGroup } from './iterator.js';
import type { BindingClientError } from './errors.js';
import type { ChangeKindOf, ModelPush, Push, PushEventName, Row, SubscribeTarget } from './types.js';

/** Pushes kept for a subscription whose room is not known yet (its reply is on its way). */
const MAX_HELD = 1000;

/** What a subscription needs of its client. */
export interface SubscriptionHost {
  release(subscription: Subscription<any>): Promise<void>;
}

/**
 * One subscription: `on(name, handler)` with a push's full event (`shop.Product.updated`),
 * its last part (`updated`) or `*`; `on('resync')` when the server could not replay what
 * was missed during a disconnection (refetch); `on('error')` when a renewal was refused
 * (the subscription is then over); `for await (const push of subscription)`; `unsubscribe()`.
 * `T` is the row type of the pushes' `data`, `S` the stream's type (a literal stream
 * narrows the full event names `on` accepts to its own).
 */
export class Subscription<T = Row, S extends string = string> implements AsyncIterable<ModelPush<T, S>> {
  private readonly listeners = new Listeners();
  // Untyped inside, so that a Subscription<Row, 'shop.Product'> is still a Subscription<any> to the client.
  private readonly iterators = new IteratorGroup<any>();
  private held: Push<any>[] | undefined = [];
  /** Pushes for this subscription that wait until the code awaiting `subscribe()` has attached its listeners. */
  private deferred: Push<any>[] | undefined;
  private currentRoom?: string;
  private over = false;

  constructor(
    private readonly host: SubscriptionHost,
    /** The model's stream, `shop.Product`. */
    readonly stream: S,
    /** What was subscribed to: `{id}`, `{filter}` or `{}` (the whole model). */
    readonly target: SubscribeTarget<T>,
  ) {}

  /** The room the server answered with; undefined until the subscribe reply arrives. */
  get room(): string | undefined {
    return this.currentRoom;
  }

  /** True after `unsubscribe()`, `client.close()` or a refused renewal. */
  get closed(): boolean {
    return this.over;
  }

  on(name: 'resync', listener: () => void): () => void;
  on(name: 'error', listener: (error: BindingClientError) => void): () => void;
  /** `created`, `updated`, `deleted`, their full names (`shop.Product.updated`) or `*`: the handler gets the push. */
  on<N extends PushEventName<S>>(name: N, listener: (push: ModelPush<T, S, ChangeKindOf<N>>) => void): () => void;
  on(name: string, listener: (...args: any[]) => void): () => void {
    return this.listeners.add(name, listener);
  }

  off(name: PushEventName<S> | 'resync' | 'error', listener: (...args: any[]) => void): void;
  off(name: string, listener: (...args: any[]) => void): void {
    this.listeners.remove(name, listener);
  }

  /** Every push of this subscription, in order, until it ends; a refused renewal throws. */
  [Symbol.asyncIterator](): AsyncIterableIterator<ModelPush<T, S>> {
    return this.iterators.start();
  }

  /** Leaves the room (on the server too, unless another subscription of this client holds it). */
  unsubscribe(): Promise<void> {
    if (this.over) return Promise.resolve();
    this.end();
    return this.host.release(this);
  }

  /**
   * @internal The room is known: returns the pushes held meanwhile, for the client to route.
   * Pushes delivered from now until the next macrotask (those held, or a replay) are kept
   * back until then, so that listeners attached right after `await subscribe()` get them.
   */
  _setRoom(room: string): Push<any>[] {
    this.currentRoom = room;
    const held = this.held ?? [];
    this.held = undefined;
    this.deferred = [];
    setTimeout(() => {
      const deferred = this.deferred ?? [];
      this.deferred = undefined;
      for (const push of deferred) this._deliver(push);
    }, 0);
    return held;
  }

  /** @internal A push of this stream that came before the room was known. */
  _hold(push: Push<any>): void {
    if (this.held && this.held.length < MAX_HELD) this.held.push(push);
  }

  /**
   * @internal Whether a push (already new to this client) concerns this subscription. The
   * server sends each change once per socket, through the most specific of the socket's
   * rooms (instance, then filter, then model), so: an instance subscription takes its own
   * room's pushes; a model subscription takes every push of its stream; a filter
   * subscription takes its own room's pushes and those that came through a more or
   * equally specific room (which may have shadowed it), not those of the model room
   * (which means no instance or filter room of this socket matched).
   */
  _accepts(push: Push<any>): boolean {
    const room = this.currentRoom;
    if (this.over || room === undefined || !push.event.startsWith(`${this.stream}.`)) return false;
    if (push.room === room || room === this.stream) return true;
    return room.startsWith(`${this.stream}?`) && push.room !== this.stream;
  }

  /** @internal */
  _deliver(push: Push<any>): void {
    if (this.over) return;
    if (this.deferred) {
      this.deferred.push(push);
      return;
    }
    const event = push.event;
    const last = event.slice(event.lastIndexOf('.') + 1);
    this.listeners.emit(event, push);
    if (last !== event) this.listeners.emit(last, push);
    this.listeners.emit('*', push);
    this.iterators.put(push as ModelPush<T, S>);
  }

  /** @internal The server could not replay what was missed. */
  _resync(): void {
    if (!this.over) this.listeners.emit('resync');
  }

  /** @internal A renewal was refused: the subscription is over. */
  _fail(error: BindingClientError): void {
    if (this.over) return;
    this.end(error);
    this.listeners.emit('error', error);
  }

  /** @internal The client closed. */
  _end(): void {
    this.end();
  }

  private end(error?: BindingClientError): void {
    this.over = true;
    this.held = undefined;
    this.deferred = undefined;
    this.iterators.finish(error);
  }
}
