import { Listeners } from './emitter.js';
import { BindingClientError } from './errors.js';
import { LiveList, readLivePage, type LiveFrame, type LiveListHost } from './live-list.js';
import { ModelClient } from './model.js';
import { Subscription, type SubscriptionHost } from './subscription.js';
import type {
  BindingRow,
  ExcludeSpec,
  FrameKeys,
  Push,
  RequestOptions,
  Row,
  SearchQuery,
  ServerMessage,
  SubscribeTarget,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';

const OPEN = 1;
const CLOSED = 3;
/** Correlation id of the client's own pings; their replies are not handed to the application. */
const HEARTBEAT_ID = '__nest-bindings-heartbeat';
/** Answers to a renewal that end the subscription; any other error is retried. */
const REFUSALS = new Set<string>(['not_found', 'forbidden', 'unauthorized', 'bad_request', 'unknown_event']);
/** The event of a live list's frame: `<app>.<Model>.list.changed` or `.search.changed`. */
const LIVE_FRAME = /^(.+)\.(list|search)\.changed$/;
/** How many rooms given up by live lists are remembered, so that their late frames are ignored. */
const RELEASED_ROOMS = 1000;

/** `connecting` (first attempt), `open`, `reconnecting` (lost, trying again), `closed` (for good). */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConnectOptions {
  /**
   * Sent as `?token=` on the WebSocket URL (browsers cannot set headers on a WebSocket);
   * the server's `authenticate(req)` reads it from `req.url`. A function is called before
   * every connection attempt, so a reconnect can carry a fresh token.
   */
  token?: string | (() => string | null | undefined | Promise<string | null | undefined>);
  /** Frame member names, as in the server's `protocol` option (default `event`, `id`, `data`). */
  keys?: FrameKeys;
  /** The WebSocket class (default `globalThis.WebSocket`; in Node 20 pass `WebSocket` of `ws`). */
  WebSocket?: WebSocketConstructor;
  /**
   * Reconnection after a lost connection: exponential backoff from `minDelay` (500 ms)
   * doubling to `maxDelay` (10 s), with jitter. `false`: never reconnect.
   */
  reconnect?: { minDelay?: number; maxDelay?: number } | false;
  /**
   * Requests made while disconnected wait (up to `max`, default 100) and are sent once the
   * connection is back; `false` (or a full queue) rejects them with `disconnected`.
   */
  queue?: { max?: number } | false;
  /** Default reply timeout of a request in ms (10,000); 0 waits forever. */
  timeout?: number;
  /**
   * Milliseconds of silence after which the client pings (25,000); after twice as long
   * without any frame the connection is taken as dead and reconnected. 0 disables.
   */
  heartbeat?: number;
  /** How many change ids are remembered to drop repeated pushes (10,000). */
  dedupe?: number;
}

/** Emitted on the client when the server could not replay a room's missed pushes. */
export interface ResyncEvent {
  room: string;
  stream: string;
  subscriptions: Subscription<any>[];
}

interface Pending {
  id: number;
  event: string;
  frame: string;
  resolve: (data: any) => void;
  reject: (error: BindingClientError) => void;
  timer?: ReturnType<typeof setTimeout>;
  timeout: number;
  /** Safe to send again on the next connection when the reply was lost (subscribe). */
  retry: boolean;
}

/**
 * The delay before reconnection attempt `attempt` (0-based): the cap doubles from
 * `minDelay` up to `maxDelay`, and the delay is drawn in the upper half of the cap
 * ("equal jitter"), never below `minDelay`.
 */
export function backoffDelay(attempt: number, minDelay: number, maxDelay: number, random: () => number = Math.random): number {
  const cap = Math.min(maxDelay, minDelay * 2 ** Math.min(attempt, 30));
  return Math.max(minDelay, Math.min(maxDelay, cap / 2 + (random() * cap) / 2));
}

/**
 * A connection to a nest-bindings server: requests with replies by id, typed models,
 * subscriptions that survive reconnection (renewed with `since`, repeats dropped by
 * `change`), and a queue for requests made while disconnected.
 */
export class BindingClient {
  private readonly listeners = new Listeners();
  private readonly keys: { event: string; id: string; data: string };
  private readonly defaultKeys: boolean;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly delays: { minDelay: number; maxDelay: number } | false;
  private readonly queueMax: number;
  private readonly timeout: number;
  private readonly heartbeat: number;
  private readonly dedupeSize: number;
  private socket?: WebSocketLike;
  private current: ConnectionState = 'connecting';
  private nextId = 1;
  private readonly inflight = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  private readonly subscriptions = new Set<Subscription<any>>();
  /** Established subscriptions by room (several may share one). */
  private readonly byRoom = new Map<string, Set<Subscription<any>>>();
  /** The last `seq` seen in each subscribed room: the `since` of its renewal. */
  private readonly lastSeq = new Map<string, number>();
  /**
   * Change ids already handled, with the subscriptions each was handed to (insertion-ordered,
   * bounded): replays through several rooms may repeat a change, and each subscription
   * gets it once, whichever room brings it first.
   */
  private readonly seen = new Map<string, Set<Subscription<any>>>();
  private attempt = 0;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private heartbeatTimer?: ReturnType<typeof setInterval>;
  private lastFrameAt = 0;
  private closing = false;
  private readonly host: SubscriptionHost = { release: (subscription) => this.release(subscription) };
  private readonly liveLists = new Set<LiveList<any>>();
  /** Live lists by the room of their page (several lists of the same request share one). */
  private readonly liveByRoom = new Map<string, Set<LiveList<any>>>();
  /** The connection on which each live list's room was obtained (a room dies with its connection). */
  private readonly liveConnection = new Map<LiveList<any>, number>();
  /** Rooms this client left (or never held): their late frames are ignored, not taken as a gap. */
  private readonly releasedRooms = new Set<string>();
  /** Counts the connections that opened: the server forgets every room of a closed one. */
  private connection = 0;
  private readonly liveHost: LiveListHost = {
    refetch: (list) => this.refetch(list),
    release: (list) => this.releaseLive(list),
  };

  constructor(
    /** The WebSocket URL, `ws://host/ws` (without the token). */
    readonly url: string,
    private readonly options: ConnectOptions = {},
  ) {
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!impl) throw new Error('nest-bindings/client: no WebSocket here; pass { WebSocket } (in Node 20: the WebSocket class of the ws package)');
    this.WebSocketImpl = impl;
    this.keys = { event: options.keys?.eventKey ?? 'event', id: options.keys?.idKey ?? 'id', data: options.keys?.dataKey ?? 'data' };
    this.defaultKeys = this.keys.event === 'event' && this.keys.data === 'data';
    this.delays = options.reconnect === false ? false : { minDelay: options.reconnect?.minDelay ?? 500, maxDelay: options.reconnect?.maxDelay ?? 10_000 };
    if (this.delays) this.delays.maxDelay = Math.max(this.delays.minDelay, this.delays.maxDelay);
    this.queueMax = options.queue === false ? 0 : Math.max(0, options.queue?.max ?? 100);
    this.timeout = options.timeout ?? 10_000;
    this.heartbeat = options.heartbeat ?? 25_000;
    this.dedupeSize = Math.max(1, options.dedupe ?? 10_000);
    this.openSocket();
  }

  get state(): ConnectionState {
    return this.current;
  }

  on(name: 'state', listener: (state: ConnectionState) => void): () => void;
  on(name: 'resync', listener: (event: ResyncEvent) => void): () => void;
  /** Every frame the server sent on its own (pushes after dedupe, broadcasts, channel messages). */
  on(name: 'message', listener: (message: Push | ServerMessage) => void): () => void;
  /** A connection attempt that could not even start (the token function threw, a bad URL). */
  on(name: 'error', listener: (error: unknown) => void): () => void;
  on(name: string, listener: (...args: any[]) => void): () => void {
    return this.listeners.add(name, listener);
  }

  off(name: string, listener: (...args: any[]) => void): void {
    this.listeners.remove(name, listener);
  }

  /**
   * The actions of one model, typed by its entity class or any row type `T`, without the
   * columns the binding excludes (`X`: the keys, or `typeof` the binding's options declared
   * `as const`), which the client cannot see by itself:
   * `client.model<Product, 'secret'>('shop.Product')`. Rows come back as
   * `BindingRow<T, X>`, and writes refuse `id` and excluded keys. Without type arguments
   * the stream's literal type is kept, so subscriptions accept only its own event names.
   */
  model<T = Row, X extends ExcludeSpec<T> = never, S extends string = string>(stream: S): ModelClient<BindingRow<T, X>, S> {
    return new ModelClient<BindingRow<T, X>, S>(this, stream);
  }

  /**
   * Sends `event` with `data`; resolves with the reply's data, rejects with a
   * BindingClientError (`code`, `message`, `details`), `timeout` or `disconnected`.
   * A request whose reply was lost with the connection rejects with `disconnected`: it
   * may or may not have been served, so it is not sent again.
   */
  request<R = unknown>(event: string, data?: unknown, options: RequestOptions = {}): Promise<R> {
    return this.enqueue(event, data, options, false) as Promise<R>;
  }

  /** Subscribes to `stream` (`{id}`, `{filter}` or `{}`); see Subscription. */
  subscribe<T = Row, S extends string = string>(stream: S, target: SubscribeTarget<T> = {}, options: RequestOptions = {}): Promise<Subscription<T, S>> {
    const subscription = new Subscription<T, S>(this.host, stream, target);
    this.subscriptions.add(subscription);
    return this.enqueue(`${stream}.subscribe`, target, options, true).then(
      (reply) => {
        const room = (reply as { room?: unknown } | null)?.room;
        if (typeof room !== 'string') {
          this.subscriptions.delete(subscription);
          subscription._end();
          throw new BindingClientError('internal', 'The subscribe reply names no room');
        }
        if (subscription.closed) {
          // Unsubscribed before the reply: leave the room unless someone else holds it.
          this.subscriptions.delete(subscription);
          if (!this.byRoom.has(room) && this.isOpen()) this.request(`${stream}.unsubscribe`, { room }).catch(() => undefined);
          return subscription;
        }
        this.attach(subscription, room);
        // The room's last number: a renewal before any push resumes from here, not from 0.
        this.bumpSeq(room, (reply as { seq?: unknown }).seq);
        return subscription;
      },
      (error: BindingClientError) => {
        this.subscriptions.delete(subscription);
        subscription._end();
        throw error;
      },
    );
  }

  /**
   * A live list of `stream` (PROTOCOL.md section 9): sends `list` (`search` when `query`
   * has a `q`) with `live: true` and resolves once the page is there; see LiveList.
   */
  live<T = Row>(stream: string, query: SearchQuery<T> = {}, options: RequestOptions = {}): Promise<LiveList<T>> {
    const list = new LiveList<T>(this.liveHost, stream, 'q' in query ? 'search' : 'list', { ...query });
    this.liveLists.add(list);
    return this.readPage(list, options).then(
      () => list,
      (error: BindingClientError) => {
        this.liveLists.delete(list);
        list._end();
        throw error;
      },
    );
  }

  /** Resolves when the connection is open (at once if it is); rejects if the client is closed. */
  ready(): Promise<void> {
    if (this.current === 'open') return Promise.resolve();
    if (this.current === 'closed') return Promise.reject(disconnected('The client is closed'));
    return new Promise((resolve, reject) => {
      const off = this.on('state', (state) => {
        if (state === 'open') {
          off();
          resolve();
        } else if (state === 'closed') {
          off();
          reject(disconnected('The client is closed'));
        }
      });
    });
  }

  /** Closes for good: pending and queued requests reject with `disconnected`, subscriptions end. */
  close(): Promise<void> {
    if (this.current === 'closed') return Promise.resolve();
    this.closing = true;
    clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    const socket = this.socket;
    this.socket = undefined;
    this.shutdown('The client was closed');
    if (!socket || socket.readyState === CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const fallback = setTimeout(resolve, 1000);
      socket.onopen = null;
      socket.onmessage = null;
      socket.onclose = () => {
        clearTimeout(fallback);
        resolve();
      };
      try {
        socket.close(1000);
      } catch {
        clearTimeout(fallback);
        resolve();
      }
    });
  }

  // --- connection ---

  private openSocket(): void {
    const token = this.options.token;
    if (typeof token !== 'function') return this.dial(token);
    let value: ReturnType<typeof token>;
    try {
      value = token();
    } catch (error) {
      return this.attemptFailed(error);
    }
    Promise.resolve(value).then(
      (resolved) => this.dial(resolved ?? undefined),
      (error) => this.attemptFailed(error),
    );
  }

  private dial(token: string | undefined): void {
    if (this.closing) return;
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(withToken(this.url, token));
    } catch (error) {
      return this.attemptFailed(error);
    }
    this.socket = socket;
    socket.onopen = () => this.onOpen(socket);
    socket.onmessage = (event: { data?: unknown }) => this.onMessage(socket, event?.data);
    socket.onclose = () => this.onClose(socket);
    socket.onerror = () => undefined; // a close event follows
  }

  private attemptFailed(error: unknown): void {
    // Asynchronous, so that a first attempt failing inside connect() reaches listeners added after it.
    queueMicrotask(() => this.listeners.emit('error', error));
    if (this.closing) return;
    if (!this.delays) return this.shutdown('Could not connect');
    this.setState('reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const { minDelay, maxDelay } = this.delays as { minDelay: number; maxDelay: number };
    const delay = backoffDelay(this.attempt++, minDelay, maxDelay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closing) this.openSocket();
    }, delay);
  }

  private onOpen(socket: WebSocketLike): void {
    if (socket !== this.socket) return;
    this.attempt = 0;
    this.connection++;
    this.lastFrameAt = Date.now();
    this.setState('open');
    if (socket !== this.socket) return; // a state listener closed the client
    this.startHeartbeat();
    this.renewAll();
    // Live lists have no replay: each asks for its page again (those already asking are in the queue).
    for (const list of this.liveLists) this.refetch(list);
    for (const pending of this.queue.splice(0)) this.transmit(pending);
  }

  private onClose(socket: WebSocketLike): void {
    if (socket !== this.socket) return;
    socket.onopen = socket.onmessage = socket.onclose = null;
    this.socket = undefined;
    this.stopHeartbeat();
    const lost = [...this.inflight.values()];
    this.inflight.clear();
    const again: Pending[] = [];
    for (const pending of lost) {
      if (pending.retry && this.delays && this.queueMax > 0) again.push(pending);
      else this.fail(pending, disconnected(`The connection was lost before the reply to ${pending.event}`));
    }
    this.queue.unshift(...again);
    for (const list of this.liveLists) list._forgetHeld();
    if (this.closing) return;
    if (!this.delays) return this.shutdown('The connection was closed');
    this.setState('reconnecting');
    this.scheduleReconnect();
  }

  /** Gives up a connection that went silent, without waiting for a close handshake. */
  private abandon(socket: WebSocketLike): void {
    this.onClose(socket);
    try {
      socket.close(4000, 'heartbeat timeout');
    } catch {
      // already closing
    }
  }

  private shutdown(reason: string): void {
    for (const pending of [...this.inflight.values(), ...this.queue.splice(0)]) this.fail(pending, disconnected(reason));
    this.inflight.clear();
    for (const subscription of this.subscriptions) subscription._end();
    this.subscriptions.clear();
    this.byRoom.clear();
    this.lastSeq.clear();
    for (const list of this.liveLists) list._end();
    this.liveLists.clear();
    this.liveByRoom.clear();
    this.liveConnection.clear();
    this.setState('closed');
  }

  private setState(state: ConnectionState): void {
    if (this.current === state) return;
    this.current = state;
    this.listeners.emit('state', state);
  }

  private isOpen(): boolean {
    return this.current === 'open' && this.socket !== undefined && this.socket.readyState === OPEN;
  }

  private startHeartbeat(): void {
    if (!(this.heartbeat > 0)) return;
    const ping = JSON.stringify({ [this.keys.event]: 'ping', [this.keys.id]: HEARTBEAT_ID });
    this.heartbeatTimer = setInterval(
      () => {
        const socket = this.socket;
        if (!socket) return;
        const silent = Date.now() - this.lastFrameAt;
        if (silent >= 2 * this.heartbeat) return this.abandon(socket);
        if (silent >= this.heartbeat) {
          try {
            socket.send(ping);
          } catch {
            // the close event follows
          }
        }
      },
      Math.max(1, this.heartbeat / 2),
    );
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  // --- requests ---

  private enqueue(event: string, data: unknown, options: RequestOptions, retry: boolean): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.current === 'closed') return reject(disconnected('The client is closed'));
      const id = this.nextId++;
      let frame: string;
      try {
        const message: Record<string, unknown> = { [this.keys.event]: event, [this.keys.id]: id };
        if (data !== undefined) message[this.keys.data] = data;
        frame = JSON.stringify(message);
      } catch (error) {
        return reject(new BindingClientError('bad_request', `data cannot be sent as JSON: ${(error as Error)?.message ?? error}`));
      }
      const timeout = options.timeout ?? this.timeout;
      const pending: Pending = { id, event, frame, resolve, reject, retry, timeout };
      if (timeout > 0 && Number.isFinite(timeout)) pending.timer = setTimeout(() => this.expire(pending), timeout);
      if (this.isOpen()) this.transmit(pending);
      else if (this.queue.length < this.queueMax) this.queue.push(pending);
      else
        this.fail(
          pending,
          disconnected(
            this.queueMax === 0 ? `Not connected: ${event} was not sent` : `Not connected and ${this.queueMax} requests already wait: ${event} was not sent`,
          ),
        );
    });
  }

  private transmit(pending: Pending): void {
    try {
      this.socket!.send(pending.frame);
    } catch {
      if (this.queue.length < this.queueMax) this.queue.push(pending);
      else this.fail(pending, disconnected(`Not connected: ${pending.event} was not sent`));
      return;
    }
    this.inflight.set(pending.id, pending);
  }

  private expire(pending: Pending): void {
    pending.timer = undefined;
    this.inflight.delete(pending.id);
    const queued = this.queue.indexOf(pending);
    if (queued >= 0) this.queue.splice(queued, 1);
    pending.reject(new BindingClientError('timeout', `No reply to ${pending.event} within ${pending.timeout} ms`));
  }

  private fail(pending: Pending, error: BindingClientError): void {
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  // --- frames ---

  private onMessage(socket: WebSocketLike, raw: unknown): void {
    if (socket !== this.socket) return;
    this.lastFrameAt = Date.now();
    if (typeof raw !== 'string') return; // the protocol is text frames only
    let frame: unknown;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return;
    const message = frame as Record<string, unknown>;
    const id = message[this.keys.id];
    if (id !== undefined) {
      const pending = typeof id === 'number' ? this.inflight.get(id) : undefined;
      if (!pending) return; // a late reply (timed out) or the heartbeat's pong
      this.inflight.delete(pending.id);
      clearTimeout(pending.timer);
      if (message.error !== undefined) pending.reject(BindingClientError.fromReply(message.error));
      else pending.resolve(message[this.keys.data]);
      return;
    }
    const normalized = this.defaultKeys ? message : { ...message, event: message[this.keys.event], data: message[this.keys.data] };
    if (typeof normalized.event !== 'string') return;
    const live = LIVE_FRAME.exec(normalized.event);
    if (live && typeof message.room === 'string' && typeof message.seq === 'number') {
      this.onLiveFrame(normalized as LiveFrame, live[1], live[2]);
    } else if (typeof message.room === 'string' && typeof message.seq === 'number' && typeof message.change === 'string') {
      if (!this.onPush(normalized as Push)) return;
    }
    this.listeners.emit('message', normalized);
  }

  /** Routes a push to the subscriptions that have not had its change yet; false when the change is not new. */
  private onPush(push: Push): boolean {
    this.bumpSeq(push.room, push.seq);
    let handed = this.seen.get(push.change);
    const fresh = handed === undefined;
    if (!handed) {
      this.seen.set(push.change, (handed = new Set()));
      if (this.seen.size > this.dedupeSize) this.seen.delete(this.seen.keys().next().value as string);
    }
    for (const subscription of this.subscriptions) {
      if (subscription.room === undefined) {
        if (push.event.startsWith(`${subscription.stream}.`)) subscription._hold(push);
      } else if (!handed.has(subscription) && subscription._accepts(push)) {
        handed.add(subscription);
        subscription._deliver(push);
      }
    }
    return fresh;
  }

  private bumpSeq(room: string, seq: unknown): void {
    if (typeof seq !== 'number' || !this.byRoom.has(room)) return;
    const last = this.lastSeq.get(room);
    if (last === undefined || seq > last) this.lastSeq.set(room, seq);
  }

  // --- subscriptions ---

  private attach(subscription: Subscription<any>, room: string): void {
    let set = this.byRoom.get(room);
    if (!set) this.byRoom.set(room, (set = new Set()));
    set.add(subscription);
    for (const push of subscription._setRoom(room)) {
      if (push.room === room) this.bumpSeq(room, push.seq);
      const handed = this.seen.get(push.change);
      if (handed?.has(subscription) || !subscription._accepts(push)) continue;
      handed?.add(subscription);
      subscription._deliver(push);
    }
  }

  /**
   * Renews every room on a new connection with `since` = the last seq seen there (a push's,
   * or the room's number in the subscribe reply). The server replays what was missed (those pushes arrive before the reply and
   * are deduplicated like live ones) or answers `recovered: false`: then `resync`.
   */
  private renewAll(): void {
    for (const room of this.byRoom.keys()) this.renew(room);
  }

  private renew(room: string): void {
    const set = this.byRoom.get(room);
    const socket = this.socket;
    if (!set || set.size === 0 || !socket) return;
    const [first] = set;
    const since = this.lastSeq.get(room) ?? 0;
    this.request<{ seq?: number; recovered?: boolean }>(`${first.stream}.subscribe`, { ...first.target, since }).then(
      (reply) => {
        if (reply?.recovered !== false) return this.bumpSeq(room, reply?.seq);
        // Refetch from here: the next renewal resumes from the room's number now.
        this.lastSeq.delete(room);
        this.bumpSeq(room, reply.seq);
        const subscriptions = [...(this.byRoom.get(room) ?? [])];
        for (const subscription of subscriptions) subscription._resync();
        this.listeners.emit('resync', { room, stream: first.stream, subscriptions } satisfies ResyncEvent);
      },
      (error: BindingClientError) => {
        if (!REFUSALS.has(error.code)) {
          // Lost with the connection: the next one renews it. Busy (rate_limited, timeout, internal): try again.
          if (error.code !== 'disconnected') setTimeout(() => this.socket === socket && this.renew(room), this.delays ? this.delays.minDelay : 1000);
          return;
        }
        // Refused (the object is gone or no longer visible): the subscription is over.
        const subscriptions = [...(this.byRoom.get(room) ?? [])];
        this.byRoom.delete(room);
        this.lastSeq.delete(room);
        for (const subscription of subscriptions) {
          this.subscriptions.delete(subscription);
          subscription._fail(error);
        }
      },
    );
  }

  private release(subscription: Subscription<any>): Promise<void> {
    this.subscriptions.delete(subscription);
    const room = subscription.room;
    if (room === undefined) return Promise.resolve(); // the subscribe reply will see it closed
    const set = this.byRoom.get(room);
    set?.delete(subscription);
    if (set && set.size > 0) return Promise.resolve();
    this.byRoom.delete(room);
    this.lastSeq.delete(room);
    if (!this.isOpen()) return Promise.resolve(); // the server forgets the rooms of a closed connection
    return this.request(`${subscription.stream}.unsubscribe`, { room }).then(
      () => undefined,
      () => undefined,
    );
  }

  // --- live lists ---

  /** Sends the live request of `list` (again); its reply replaces the page. */
  private readPage(list: LiveList<any>, options: RequestOptions = {}): Promise<void> {
    list._begin();
    return this.enqueue(`${list.stream}.${list.action}`, { ...list.query, live: true }, options, true).then(
      (reply) => {
        const page = readLivePage(reply);
        if (!page) {
          list._abort();
          throw new BindingClientError('internal', `The live ${list.action} reply names no room`);
        }
        if (list.closed) return this.leaveClosed(list, page.room);
        this.place(list, page.room);
        list._load(page);
      },
      (error: BindingClientError) => {
        list._abort();
        if (list.closed) this.leaveClosed(list);
        throw error;
      },
    );
  }

  /**
   * A list closed while its page was being read, now that the read is over: leaves the room
   * the reply named, and the room the list had on this connection, unless another list holds them.
   */
  private leaveClosed(list: LiveList<any>, named?: string): void {
    const connection = this.liveConnection.get(list);
    this.liveConnection.delete(list);
    if (named !== undefined && !this.liveByRoom.has(named)) void this.leaveRoom(list.stream, named);
    const had = list.room;
    if (had !== undefined && had !== named && connection === this.connection && !this.liveByRoom.has(had)) void this.leaveRoom(list.stream, had);
  }

  /**
   * Reads a list's page again (a gap, a frame that did not fit, a new connection). Refused
   * (`forbidden`, `not_found`…): the list is over. Lost with the connection: the next one
   * asks again. Busy: asked again after `minDelay`.
   */
  private refetch(list: LiveList<any>): void {
    if (list.closed || list._awaiting || this.current === 'closed') return;
    this.readPage(list).catch((error: BindingClientError) => {
      if (list.closed) return;
      if (REFUSALS.has(error.code)) {
        this.liveLists.delete(list);
        this.unplace(list);
        list._fail(error);
      } else if (error.code !== 'disconnected') {
        setTimeout(() => this.refetch(list), this.delays ? this.delays.minDelay : 1000);
      }
    });
  }

  /** Files `list` under `room` (leaving the room it had, if another). */
  private place(list: LiveList<any>, room: string): void {
    if (list.room !== room) this.unplace(list);
    let set = this.liveByRoom.get(room);
    if (!set) this.liveByRoom.set(room, (set = new Set()));
    set.add(list);
    this.liveConnection.set(list, this.connection);
    this.releasedRooms.delete(room);
  }

  /**
   * Takes `list` out of its room; the last list to leave a room of this connection
   * unsubscribes it, unless `leave` is false (a reply on its way will decide).
   */
  private unplace(list: LiveList<any>, leave = true): Promise<void> {
    const room = list.room;
    const connection = this.liveConnection.get(list);
    if (leave) this.liveConnection.delete(list);
    const set = room === undefined ? undefined : this.liveByRoom.get(room);
    if (!set?.delete(list) || set.size > 0) return Promise.resolve();
    this.liveByRoom.delete(room!);
    // The server forgets the rooms of a closed connection by itself.
    return leave && connection === this.connection ? this.leaveRoom(list.stream, room!) : Promise.resolve();
  }

  private leaveRoom(stream: string, room: string): Promise<void> {
    this.releasedRooms.add(room);
    if (this.releasedRooms.size > RELEASED_ROOMS) this.releasedRooms.delete(this.releasedRooms.values().next().value as string);
    if (!this.isOpen()) return Promise.resolve();
    return this.request(`${stream}.unsubscribe`, { room }).then(
      () => undefined,
      () => undefined,
    );
  }

  private releaseLive(list: LiveList<any>): Promise<void> {
    this.liveLists.delete(list);
    // A list whose page is being read leaves its room when the reply comes (the server holds it again by then).
    return this.unplace(list, !list._awaiting);
  }

  /**
   * A frame of a live list: to the lists of its room. A frame of a room no list knows is held
   * by the lists of the same stream and kind whose page is being read (their reply may name
   * it); otherwise, unless it is a room this client left, the server sends pages this client
   * does not hold: it is unsubscribed and those lists read their pages again.
   */
  private onLiveFrame(frame: LiveFrame, stream: string, action: string): void {
    const lists = this.liveByRoom.get(frame.room);
    if (lists) {
      for (const list of [...lists]) list._frame(frame);
      return;
    }
    if (this.releasedRooms.has(frame.room)) return;
    const same = [...this.liveLists].filter((list) => list.stream === stream && list.action === action);
    const reading = same.filter((list) => list._awaiting);
    if (reading.length > 0) {
      for (const list of reading) list._frame(frame);
      return;
    }
    void this.leaveRoom(stream, frame.room);
    for (const list of same) this.refetch(list);
  }
}

function disconnected(message: string): BindingClientError {
  return new BindingClientError('disconnected', message);
}

function withToken(url: string, token: string | undefined): string {
  if (!token) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

/** Opens a client: `connect('ws://localhost:3000/ws', { token })`. It connects at once and reconnects by itself. */
export function connect(url: string, options: ConnectOptions = {}): BindingClient {
  return new BindingClient(url, options);
}
