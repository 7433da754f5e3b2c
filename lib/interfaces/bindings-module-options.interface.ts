import type { IncomingMessage } from 'node:http';
import type { RoomAdapter } from '../adapters/room-adapter.js';

/** Names of the three members of a frame; see PROTOCOL.md section 2. */
export interface ProtocolKeys {
  /** Member naming the event (default `"event"`; rohrpost clients use `"type"`, demultiplexer clients `"stream"`). */
  eventKey?: string;
  /** Member carrying the correlation id (default `"id"`). */
  idKey?: string;
  /** Member carrying the payload (default `"data"`; demultiplexer clients use `"payload"`). */
  dataKey?: string;
}

/** Bounds on what one client may ask for. Every field has a safe default. */
export interface BindingsLimits {
  /** Largest frame in bytes; a larger one closes the socket with 1009 (default 1 MiB). */
  maxPayload?: number;
  /** Nesting depth of a filter, the outer object counting as 1 (default 4). */
  filterDepth?: number;
  /** Values in one `in`/`nin` list (default 1,000). */
  inValues?: number;
  /** Length of any string in a filter, search or write (default 10,000). */
  stringLength?: number;
  /** Rooms one socket may be subscribed to (default 1,000). */
  subscriptionsPerSocket?: number;
  /** Open WebSockets of one identified user; a further upgrade is refused with HTTP 429 (default 100). */
  connectionsPerUser?: number;
  /** Frames per second one socket may send on average; over it `rate_limited`, socket kept (default 100). */
  framesPerSecond?: number;
  /** Frames one socket may send at once above the average rate (default 200). */
  burst?: number;
  /** Bytes waiting to be sent to one socket before it is closed with 1013 (default 4 MiB). */
  sendBuffer?: number;
  /** Related rows one to-many `include` may load for one request, counted in the related scope before `can.retrieve`; more → `bad_request` (default 1,000). */
  includeRows?: number;
  /** Estimated bytes of the subscriptions (rooms joined, filters) held by one user's sockets; a subscribe over it is `bad_request` (default 16 MiB). */
  subscriptionBytesPerUser?: number;
  /** The same for all users and for rooms kept for replay after their last member left; idle rooms are dropped oldest first to make room (default 128 MiB). */
  subscriptionBytesTotal?: number;
  /** Estimated bytes of pushes one room keeps for replay; the oldest are dropped first (default 4 MiB). */
  replayBytesPerRoom?: number;
  /** The same for all rooms together, a push kept by several rooms counted once; the oldest are dropped first (default 64 MiB). */
  replayBytesTotal?: number;
  /** Estimated bytes of presence states one user holds in all channels; a `channel.state` over it is `bad_request` (default 1 MiB). */
  presenceBytesPerUser?: number;
  /** The same for all users (default 64 MiB). */
  presenceBytesTotal?: number;
  /** Live lists one socket may hold at once (PROTOCOL.md section 9; default 100). They also count toward `subscriptionsPerSocket`. */
  liveLists?: number;
  /**
   * Estimated bytes of the live lists one user holds: each held page charges its request and
   * room for a full page of rows of the size seen so far (default 16 MiB). Over it a live request is `bad_request`.
   */
  liveListBytesPerUser?: number;
  /** The same for all users (default 128 MiB). */
  liveListBytesTotal?: number;
  /** Characters of one `like`/`ilike` pattern or of a search `q`, as sent (default 100). */
  patternLength?: number;
  /** Field conditions in one filter, counted through every `$or`/`$and` (default 100). */
  filterTerms?: number;
  /** Characters of all `like`/`ilike` patterns of one filter together (default 100). */
  patternTotal?: number;
}

/** How long pushes are kept for clients that reconnect with `since`. */
export interface ReplayOptions {
  /** Pushes kept per room (default 1,000). */
  size?: number;
  /** Age in milliseconds after which a kept push is dropped (default 5 minutes). */
  maxAge?: number;
}

/** Settings of one channel; `channels.configure(channel)` may return some of them per channel. */
export interface ChannelConfig {
  /** Messages kept per channel, and the largest `limit` of `channel.history` (default 100; 0 keeps none). */
  history?: number;
  /** Whether members get `channel.presence` and `channel.state`, and `channel.info` lists users (default true). */
  presence?: boolean;
}

/** Channels (PROTOCOL.md section 7): chat rooms with history and presence, on the bindings' sockets. */
export interface ChannelsOptions extends ChannelConfig {
  /** Permissions of channel users (default: everyone may join and post). */
  can?: {
    /** Who may join, read the history of and see the info of a channel (default: everyone). */
    join?: (user: any, channel: string) => boolean | Promise<boolean>;
    /** Who may post (and edit or delete their own messages) in a channel (default: whoever may join). */
    message?: (user: any, channel: string, message: unknown) => boolean | Promise<boolean>;
  };
  /** Estimated bytes of in-memory history per channel; the oldest messages are dropped first (default 1 MiB). */
  historyBytes?: number;
  /** Bytes of in-memory history written by one user, in all channels; that user's oldest messages are dropped first (default 4 MiB). */
  historyBytesPerUser?: number;
  /** Bytes of in-memory history of all channels; the oldest messages of the channel written to least recently go first (default 64 MiB). */
  historyBytesTotal?: number;
  /** Per-channel overrides of `history` and `presence`. */
  configure?: (channel: string) => ChannelConfig | undefined | null;
  /** The presence state a user has when its first socket joins a channel, before any `channel.state` (default null). */
  initialState?: (user: any, channel: string) => unknown;
}

/** `POST <restPrefix>/publish` for backends; requests are signed with HMAC-SHA256. */
export interface PublishOptions {
  /** The shared secret; several during a rotation (a signature made with any of them is accepted). */
  secret: string | readonly string[];
}

/** `GET <restPrefix>/admin/stats`. */
export interface AdminOptions {
  /** Whether the (authenticated) user may read the statistics; false answers 403. */
  can: (user: any) => boolean | Promise<boolean>;
}

/** The OpenAPI document (`<restPrefix>/docs-json`) and its page (`<restPrefix>/docs`). */
export interface DocsOptions {
  /** `info.title` (default "nest-bindings API"). */
  title?: string;
  /** `info.version` (default "1.0.0"). */
  version?: string;
  /** `info.description`. */
  description?: string;
}

/** The Server-Sent Events streams. */
export interface SseOptions {
  /** Milliseconds between heartbeat comment lines, which keep proxies from closing idle streams (default 15,000; 0 sends none). */
  heartbeat?: number;
}

/**
 * An ioredis client of the application: a `Redis` or a `Cluster` (described by shape, so that
 * this type does not load ioredis).
 */
export interface RedisClientLike {
  duplicate(...args: any[]): unknown;
  readonly isCluster: boolean;
}

/** Rooms and pushes shared between instances through Redis pub/sub. */
export interface RedisAdapterOptions {
  /**
   * Where Redis is: a URL (`'redis://127.0.0.1:6379'`, `'rediss://…'` for TLS), or the
   * application's own ioredis client (`new Redis({ host, tls, … })` or `new Cluster([…])`)
   * when it needs options a URL cannot carry. A client is never taken over: the adapter
   * opens its connections with `client.duplicate()` (pub/sub needs connections of its own)
   * and at shutdown closes only those, so the application's client stays usable. The
   * client's own ioredis `keyPrefix` is not used: `keyPrefix` below prefixes every key.
   * With a Cluster, give a `keyPrefix` with a hash tag (`'{nb}:'`) so every key of the
   * adapter is in one slot: its scripts touch several keys at once.
   */
  redis: string | RedisClientLike;
  /** Prefix of every key and pub/sub channel, to share one Redis between applications (default `'nb:'`). */
  keyPrefix?: string;
  /** Ms after which the presence of an instance that stopped refreshing it (crashed) is removed; its users part within 4/3 of it (default 30,000). */
  presenceTtl?: number;
}

/** Options of `BindingsModule.forRoot()`. */
export interface BindingsModuleOptions {
  /** WebSocket path (default `/ws`). */
  path?: string;
  /** Prefix of the REST routes (default `api`); `false` serves no REST routes. */
  restPrefix?: string | false;
  /** `app` of bindings that name none (default `"app"`). */
  defaultApp?: string;
  /** Name of the TypeORM DataSource whose entities are served (default: the default one). */
  dataSource?: string;
  /** Frame member names, for clients of other protocols. */
  protocol?: ProtocolKeys;
  /**
   * Turns a WebSocket upgrade or HTTP request into a user, or null for anonymous. Throwing
   * `new BindingError('unauthorized', reason)` refuses the caller with 401 and that reason.
   */
  authenticate?: (req: IncomingMessage) => unknown | Promise<unknown>;
  /** Whether callers without a user are served (default true). */
  anonymous?: boolean;
  /**
   * The `Origin`s (`'https://app.example.com'`, compared exactly) whose pages may open a
   * WebSocket or an event stream; an upgrade or stream from any other origin is refused with
   * 403. Requests without an `Origin` header (not from a browser) are not affected. Default:
   * any origin (the application's `authenticate` decides alone).
   */
  origins?: readonly string[];
  /**
   * Names a user: in presence lists, for `connectionsPerUser` and for the per-user bounds
   * (default: `String(user.id)`; a user without an `id` is then refused, so give one when
   * your users have none).
   */
  identify?: (user: any) => string;
  /** Bounds on what one client may ask for (frame size, filter size, rates, memory per user); every field has a safe default. */
  limits?: BindingsLimits;
  /** How many pushes, and for how long, are kept for clients that reconnect with `since`. */
  replay?: ReplayOptions;
  /**
   * Where rooms meet other instances (default: none, one process, rooms in memory).
   * - `{ redis: 'redis://127.0.0.1:6379' }`: share rooms, numbering, replay, presence and
   *   publish signatures through Redis (needs the ioredis package).
   * - `{ redis: myRedisClient }`: the same with the application's own ioredis `Redis` or
   *   `Cluster` (TLS, sentinels, cluster nodes…), duplicated, never taken over or closed.
   * - an instance of a class extending `RoomAdapter`: a transport of your own; the rooms call
   *   its methods (`publish`, `replay`, `broadcast`…), see `RoomAdapter`.
   */
  adapter?: RedisAdapterOptions | RoomAdapter;
  /** Milliseconds between WebSocket pings; a peer that missed the previous pong is dropped (default 30,000). */
  heartbeatInterval?: number;
  /** Server-Sent Events (`GET /<prefix>/<app>/<Model>/events`). */
  sse?: SseOptions;
  /** Channels: defaults, permissions and per-channel settings (default: open channels, history 100, presence on). */
  channels?: ChannelsOptions;
  /** Enables `POST <restPrefix>/publish` for backends signing with this secret (default: not served, 404). */
  publish?: PublishOptions;
  /** Enables `GET <restPrefix>/admin/stats` for the users `admin.can` allows (default: 403 for everyone). */
  admin?: AdminOptions;
  /** The OpenAPI document and its page; `false` serves neither (default: served). */
  docs?: boolean | DocsOptions;
  /** Milliseconds `app.close()` waits for sockets to finish their close handshake (1001) before dropping them (default 3,000). */
  shutdownTimeout?: number;
  /**
   * Where committed changes are captured (PROTOCOL.md sections 4 and 10):
   * - `'orm'` (default): TypeORM calls of this process (repository, manager, QueryBuilder).
   * - `'database'`: triggers installed at start-up on every bound table record each committed
   *   change in an outbox table, whoever made it (raw SQL, cascades, other processes); the
   *   library pushes from the outbox. See the README, "Capture in the database", for what is
   *   installed, what it costs per write and how to remove it (`removeDatabaseCapture`).
   * - `{ mode: 'database', pollInterval }`: the same, reading the outbox every `pollInterval`
   *   milliseconds besides its wake-ups (default 1,000): on SQLite this is how changes of other
   *   processes arrive; on PostgreSQL `NOTIFY` wakes every instance at once and the poll is a backstop.
   */
  capture?: 'orm' | 'database' | DatabaseCaptureOptions;
}

/** `capture: { mode: 'database', ... }`: change capture by triggers and an outbox (README, "Capture in the database"). */
export interface DatabaseCaptureOptions {
  mode: 'database';
  /** Milliseconds between two reads of the outbox besides wake-ups (default 1,000; at least 10). */
  pollInterval?: number;
}
