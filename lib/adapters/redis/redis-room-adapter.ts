import { Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { FilterIndex } from '../../query/index.js';
import type { EntityChange } from '../../rows/entity-change.js';
import type { FilterTarget, KeptPush, PreparedPush, RoomScope, RoomSpec } from '../room-shapes.js';
import { RoomAdapter, type ScopeIndex, type SharedChange } from '../room-adapter.js';
import { openConnection, type RedisSource } from './redis-connection.js';
import { RedisPresenceStore } from './redis-presence-store.js';
import { RedisSignatureLedger } from './redis-signature-ledger.js';

// One round trip per change, atomic: INCR the seq of every room the change goes through (the
// numbering of a room is shared by all instances) and keep each counter alive for the replay
// window, keep the push once and each room's entry in its replay list, then PUBLISH the push
// with its seqs. Messages are in the order of the numbering, and a replay that sees a seq
// also finds its push. KEYS: n seq keys, n replay keys, the push key. ARGV: max age, replay
// size, now, change id (JSON), channel, message head (origin, change id, space), body (JSON).
const PUSH = `
local n = (#KEYS - 1) / 2
local seqs = {}
for i = 1, n do
  seqs[i] = redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
end
redis.call('SET', KEYS[#KEYS], ARGV[7], 'PX', ARGV[1])
for i = 1, n do
  local key = KEYS[n + i]
  redis.call('RPUSH', key, '{"seq":' .. seqs[i] .. ',"at":' .. ARGV[3] .. ',"change":' .. ARGV[4] .. '}')
  redis.call('LTRIM', key, -tonumber(ARGV[2]), -1)
  redis.call('PEXPIRE', key, ARGV[1])
end
redis.call('PUBLISH', ARGV[5], ARGV[6] .. table.concat(seqs, ',') .. '\\n' .. ARGV[7])
return seqs`;

/**
 * A push as the committing instance shares it (JSON, the value of `push:<change id>` too):
 * what every room's frame is built from, and the rooms in the order of the message's seqs.
 * The message is the origin, the change id, a space, the seqs (`3,17`), a newline and the
 * body, so the committing instance finds its own push without parsing it.
 */
interface SharedPush {
  stream: string;
  changeId: string;
  head: string;
  tail: string;
  row: PreparedPush['row'];
  /** `[room]`, or `[room, key]` when the numbering room is not the room itself. */
  rooms: Array<[string] | [string, string]>;
}

type FilterMatch = FilterTarget & { filter: unknown };

/** The Redis adapter's settings: the module's `adapter` option and the replay window. */
export interface RedisRoomAdapterOptions {
  /** A URL, or the application's client (a Redis or a Cluster), which is duplicated, never taken over. */
  redis: RedisSource;
  keyPrefix?: string;
  presenceTtl?: number;
  replay: { size: number; maxAge: number };
}

/**
 * Several instances share rooms and pushes through Redis pub/sub. The instance that commits
 * a change serializes it once, then in one atomic script Redis numbers it in every room it
 * goes through (INCR, so `seq` is the same on every instance), keeps it in a capped list per
 * room (so a client can replay after reconnecting to any instance) and publishes it once
 * with its seqs; every instance, the committing one too, delivers it to its own sockets when
 * the message comes, so each socket gets a room's pushes in the order of their seqs, and no
 * instance waits for another. Filter rooms are
 * registered in Redis so the committing instance can match changes against filters that
 * live elsewhere, and so are the scopes of scoped bindings (a scope's rooms count only
 * changes of rows inside it, so the committing instance must know every scope in use). When Redis is unreachable an instance keeps serving and pushes to its own
 * sockets with local numbering; see the README for what is lost meanwhile.
 */
export class RedisRoomAdapter extends RoomAdapter implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('BindingsModule');
  /** This instance, in its messages: 12 hex digits, always at their start. */
  private readonly origin = randomBytes(6).toString('hex');
  /** How this instance's commit messages start (`origin` is the first member). */
  private readonly ownCommits = `{"origin":"${this.origin}"`;
  private readonly channels: { changes: string; commits: string };
  /**
   * This instance's pushes sent to Redis, by change id, until their message comes back:
   * every instance delivers in the channel's order, which is the order of the numbering
   * (the script's reply and the message come at the same time, on two connections).
   */
  private readonly inFlight = new Map<string, PreparedPush>();
  private readonly prefix: string;
  private readonly pub: Redis;
  private readonly sub: Redis;
  /** Filter rooms known anywhere, by stream then key, compiled once. */
  private readonly filters = new Map<string, Map<string, FilterMatch>>();
  /** The same filter rooms by stream, indexed by the equality each requires, for matching changes. */
  private readonly filterIndex = new Map<string, FilterIndex<FilterMatch>>();
  /** Scopes of scoped bindings with rooms anywhere, by stream then hash, compiled once. */
  private readonly scopes = new Map<string, ScopeIndex>();
  /** The scopes this instance shared, to share again when Redis returns after an outage. */
  private readonly shared = new Map<string, { stream: string; scope: RoomScope }>();
  private refresher?: NodeJS.Timeout;
  private degraded = false;

  constructor(private readonly options: RedisRoomAdapterOptions) {
    super();
    this.prefix = options.keyPrefix ?? 'nb:';
    this.channels = { changes: this.key('changes'), commits: this.key('commits') };
    // No offline queue: while Redis is away a command fails at once and the change goes
    // to the local sockets instead of waiting in memory.
    const connection = { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 };
    this.pub = openConnection(options.redis, connection);
    this.sub = openConnection(options.redis, { ...connection, enableOfflineQueue: true });
    for (const client of [this.pub, this.sub]) {
      client.on('error', (error) => this.degrade(error));
      client.on('ready', () => this.recover());
    }
  }

  /** Channels' presence, shared by every instance (its own connection). */
  presenceStore(): RedisPresenceStore {
    return new RedisPresenceStore(openConnection(this.options.redis, { maxRetriesPerRequest: 1 }), this.prefix, this.options.presenceTtl ?? 30_000);
  }

  /** Signatures of the publish endpoint, accepted once across every instance (its own connection). */
  signatureLedger(): RedisSignatureLedger {
    return new RedisSignatureLedger(openConnection(this.options.redis, { maxRetriesPerRequest: 1 }), this.prefix);
  }

  async onModuleInit(): Promise<void> {
    this.sub.on('message', (channel, text) => this.receive(channel, text));
    try {
      await Promise.all([this.pub.connect(), this.sub.connect()]);
      await this.sub.subscribe(
        this.key('changes'),
        this.key('filters'),
        this.key('filters-gone'),
        this.key('broadcasts'),
        this.key('scopes'),
        this.key('commits'),
      );
      await this.loadFilters();
    } catch (error) {
      this.degrade(error as Error);
    }
    this.refresher = setInterval(() => this.keepAlive(), this.keepAliveEvery()).unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.refresher);
    this.pub.disconnect();
    this.sub.disconnect();
  }

  publish(change: EntityChange): void {
    const stream = change.binding.stream;
    const targets = this.host.roomsFor(change, this.filterIndex.get(stream) ?? [], this.scopes.get(stream));
    if (this.pub.status !== 'ready') {
      this.host.publish(change);
      return;
    }
    if (targets.length === 0) return; // a scoped binding, and no scope in use holds the row
    // Serialized once, before it is numbered: the seqs are the only part Redis gives.
    let push: PreparedPush;
    try {
      push = this.host.prepare(
        change,
        targets.map(({ room, key }) => ({ room, key, seq: 0 })),
      );
    } catch (error) {
      // The application's serialize threw (logged with its message): nothing of this change is sent or numbered.
      this.logger.error(`Push of ${change.binding.stream} ${change.id} was not sent: ${(error as Error)?.message ?? error}`);
      return;
    }
    const body: SharedPush = {
      stream: push.stream,
      changeId: push.changeId,
      head: push.head,
      tail: push.tail,
      row: push.row,
      rooms: push.frames.map(({ room, key }) => (key === undefined ? [room] : [room, key])),
    };
    const keys = push.frames.map(({ room, key }) => key ?? room);
    const { maxAge, size } = this.options.replay;
    this.inFlight.set(push.changeId, push);
    // The changes of one instance keep their order: one connection, replies in order.
    this.pub
      .eval(
        PUSH,
        2 * keys.length + 1,
        ...keys.map((key) => this.key(`seq:${key}`)),
        ...keys.map((key) => this.key(`replay:${key}`)),
        this.key(`push:${push.changeId}`),
        maxAge,
        size,
        Date.now(),
        JSON.stringify(push.changeId),
        this.channels.changes,
        `${this.origin}${push.changeId} `,
        JSON.stringify(body),
      )
      .then(
        (seqs) => {
          // Without the subscriber connection its message will not come back: delivered now.
          if (this.sub.status !== 'ready' && this.inFlight.delete(push.changeId)) {
            this.numbered(push, seqs as number[]);
            this.host.deliver(push);
          }
        },
        (error: Error) => {
          this.inFlight.delete(push.changeId);
          this.degrade(error);
          try {
            this.host.publish(change);
          } catch (failure) {
            this.logger.error(`Push of ${change.binding.stream} ${change.id} was not sent: ${(failure as Error)?.message ?? failure}`);
          }
        },
      )
      .catch((error: Error) => this.logger.error(`Push of ${change.binding.stream} ${change.id} failed: ${error?.stack ?? error}`));
  }

  /** Gives each room's frame its seq, as Redis numbered it. */
  private numbered(push: PreparedPush, seqs: ReadonlyArray<number | string>): void {
    push.frames.forEach((entry, i) => {
      entry.seq = Number(seqs[i]);
      entry.frame = this.host.pushFrame(push.head, entry.room, entry.seq, push.tail);
    });
  }

  /** A push numbered by Redis (see PUSH): delivered to the sockets of this instance, in the channel's order. */
  private receivePush(text: string): void {
    const space = text.indexOf(' ');
    const newline = text.indexOf('\n', space);
    const seqs = text.slice(space + 1, newline).split(',');
    if (text.startsWith(this.origin)) {
      // Ours: prepared here, not parsed again.
      const changeId = text.slice(this.origin.length, space);
      const own = this.inFlight.get(changeId);
      if (!own) return;
      // Messages come in the order they were sent: those of earlier pushes still here were lost.
      for (const id of this.inFlight.keys()) {
        this.inFlight.delete(id);
        if (id === changeId) break;
      }
      this.numbered(own, seqs);
      this.host.deliver(own);
      return;
    }
    const body = JSON.parse(text.slice(newline + 1)) as SharedPush;
    const push: PreparedPush = {
      stream: body.stream,
      changeId: body.changeId,
      row: body.row,
      head: body.head,
      tail: body.tail,
      frames: body.rooms.map(([room, key]) => ({ room, ...(key === undefined ? {} : { key }), seq: 0, frame: '' })),
    };
    this.numbered(push, seqs);
    this.host.deliver(push);
  }

  /**
   * One message per commit with the raw rows (every column before and after): the live lists
   * of the other instances match and re-read their pages with it. Pushes stay one message
   * per change (above); a commit that no live list anywhere cares about costs this one message.
   */
  protected override shareCommit(changes: readonly EntityChange[]): void {
    if (this.pub.status !== 'ready' || changes.length === 0) return;
    const shared: SharedChange[] = changes.map((change) => ({
      stream: change.binding.stream,
      kind: change.kind,
      id: change.id,
      ...(change.before ? { before: change.before } : {}),
      ...(change.after ? { after: change.after } : {}),
      ...(change.changes ? { changes: change.changes } : {}),
      ...(change.hidden ? { hidden: true } : {}),
      changeId: this.host.changeId(change),
    }));
    this.pub.publish(this.key('commits'), JSON.stringify({ origin: this.origin, changes: shared })).catch((error: Error) => this.degrade(error));
  }

  private receive(channel: string, text: string): void {
    try {
      if (channel === this.channels.changes) {
        this.receivePush(text);
        return;
      }
      if (channel === this.channels.commits) {
        if (text.startsWith(this.ownCommits)) return; // not parsed: its live lists have it
        const { changes } = JSON.parse(text) as { changes: SharedChange[] };
        const known = changes.map((shared) => this.host.remoteChange(shared)).filter((change) => change !== undefined);
        if (known.length) this.host.committed(known, false);
        return;
      }
      if (channel === this.key('filters')) {
        const { stream, room, filter } = JSON.parse(text);
        this.addFilter(stream, room, filter);
        return;
      }
      if (channel === this.key('scopes')) {
        const { stream, hash, filter } = JSON.parse(text);
        this.addScope(stream, hash, filter);
        return;
      }
      if (channel === this.key('broadcasts')) {
        const { origin, room, frame } = JSON.parse(text);
        if (origin !== this.origin) this.host.broadcastLocal(room, frame);
        return;
      }
      if (channel === this.key('filters-gone')) {
        const { stream, rooms } = JSON.parse(text) as { stream: string; rooms: string[] };
        for (const room of rooms) {
          const known = this.filters.get(stream)?.get(room);
          if (!known) continue;
          // Still here (marked just too late): register it again, so every instance matches it.
          if (this.host.hasRoom(room)) this.register(stream, room, known.filter);
          else {
            this.filters.get(stream)!.delete(room);
            this.filterIndex.get(stream)!.delete(known);
          }
        }
        return;
      }
    } catch (error) {
      this.logger.error(`Unreadable message on ${channel}: ${(error as Error).message}`);
    }
  }

  /** Application messages (channels, BindingsService.broadcast, publishing) reach every instance. */
  override broadcast(room: string, frame: string): void {
    if (this.pub.status !== 'ready') return;
    this.pub.publish(this.key('broadcasts'), JSON.stringify({ origin: this.origin, room, frame })).catch((error: Error) => this.degrade(error));
  }

  /**
   * The shared seq of the room keyed `key` (named `room`) and, with `since`, its kept pushes after `since`
   * (undefined when some are gone); undefined when Redis is away (the client is told to refetch).
   */
  override async replay(key: string, since: number | undefined, room: string): Promise<{ seq: number; missed?: KeptPush[] } | undefined> {
    try {
      if (since === undefined) return { seq: Number((await this.pub.get(this.key(`seq:${key}`))) ?? 0) };
      const [entries, current] = await Promise.all([this.pub.lrange(this.key(`replay:${key}`), 0, -1), this.pub.get(this.key(`seq:${key}`))]);
      const seq = Number(current ?? 0);
      if (since === seq) return { seq, missed: [] };
      if (since > seq) return { seq };
      const kept = entries
        .map((entry) => JSON.parse(entry) as { seq: number; at: number; change: string })
        .filter((push) => push.at >= Date.now() - this.options.replay.maxAge);
      if (kept.length === 0 || kept[0].seq > since + 1) return { seq };
      const wanted = kept.filter((push) => push.seq > since);
      if (wanted.length === 0) return { seq, missed: [] };
      const changes = [...new Set(wanted.map((push) => push.change))];
      const texts = await this.pub.mget(...changes.map((change) => this.key(`push:${change}`)));
      const bodies = new Map(
        changes.map((change, i) => [change, texts[i] === null ? undefined : (JSON.parse(texts[i]!) as { head: string; tail: string; row: KeptPush['row'] })]),
      );
      const missed: KeptPush[] = [];
      for (const push of wanted) {
        const body = bodies.get(push.change);
        if (!body) return { seq }; // expired with its window: the client refetches
        missed.push({ seq: push.seq, at: push.at, frame: this.host.pushFrame(body.head, room, push.seq, body.tail), row: body.row });
      }
      return { seq, missed };
    } catch {
      return undefined;
    }
  }

  override filterRoomCreated(spec: RoomSpec, key: string): void {
    const stream = spec.binding!.stream;
    this.addFilter(stream, key, spec.filter);
    this.register(stream, key, spec.filter);
  }

  /** `key` is the room name, or `<name>#<scope hash>` for a filter room of a scoped binding. */
  private register(stream: string, key: string, filter: unknown): void {
    if (this.pub.status !== 'ready') return;
    this.pub
      .multi()
      .hset(this.key(`filters:${stream}`), key, JSON.stringify(filter))
      .zadd(this.key(`filters-seen:${stream}`), Date.now(), key)
      .publish(this.key('filters'), JSON.stringify({ stream, room: key, filter }))
      .exec()
      .catch((error: Error) => this.degrade(error));
  }

  /** A scope new to this instance: every instance numbers its rooms from now on. */
  override async scopeCreated(stream: string, scope: RoomScope): Promise<void> {
    this.knownScopes(stream)?.add(scope);
    this.shared.set(`${stream}#${scope.hash}`, { stream, scope });
    if (this.pub.status !== 'ready') return;
    await this.pub
      .multi()
      .hset(this.key(`scopes:${stream}`), scope.hash, JSON.stringify(scope.filter))
      .publish(this.key('scopes'), JSON.stringify({ stream, hash: scope.hash, filter: scope.filter }))
      .exec()
      .catch((error: Error) => this.degrade(error));
  }

  private async loadFilters(): Promise<void> {
    for (const { stream, scoped } of this.host.streams()) {
      const known = await this.pub.hgetall(this.key(`filters:${stream}`));
      for (const [room, text] of Object.entries(known)) this.addFilter(stream, room, JSON.parse(text));
      if (!scoped) continue;
      const scopes = await this.pub.hgetall(this.key(`scopes:${stream}`));
      for (const [hash, text] of Object.entries(scopes)) this.addScope(stream, hash, JSON.parse(text));
    }
  }

  /** `key` is the room name, or `<name>#<scope hash>` for a filter room of a scoped binding. */
  private addFilter(stream: string, key: string, filter: unknown): void {
    if (this.filters.get(stream)?.has(key)) return;
    const target = this.host.filterTarget(stream, key, filter);
    if (!target) return;
    let rooms = this.filters.get(stream);
    if (!rooms) this.filters.set(stream, (rooms = new Map()));
    let index = this.filterIndex.get(stream);
    if (!index) this.filterIndex.set(stream, (index = new FilterIndex()));
    const match = { ...target, filter };
    rooms.set(key, match);
    index.add(match);
  }

  private addScope(stream: string, hash: string, filter: unknown): void {
    const known = this.knownScopes(stream);
    const scope = known && !known.get(hash) ? this.host.remoteScope(stream, hash, filter) : undefined;
    if (scope) known!.add(scope);
  }

  private knownScopes(stream: string): ScopeIndex | undefined {
    let known = this.scopes.get(stream);
    if (!known) {
      known = this.host.scopeIndex(stream);
      if (known) this.scopes.set(stream, known);
    }
    return known;
  }

  /**
   * Rooms with local members keep their numbering alive while they are in use, and filter
   * rooms that exist here (with members or kept for replay) mark their filter as seen. A
   * filter no instance has marked for three rounds is forgotten everywhere, so the
   * matchers of rooms retired on every instance do not stay in memory.
   */
  private keepAlive(): void {
    if (this.pub.status !== 'ready') return;
    const now = Date.now();
    const pipeline = this.pub.pipeline();
    for (const key of this.host.occupiedKeys()) pipeline.pexpire(this.key(`seq:${key}`), this.options.replay.maxAge);
    for (const { stream, room } of this.host.filterRoomNames()) pipeline.zadd(this.key(`filters-seen:${stream}`), now, room);
    for (const { stream, scoped } of this.host.streams()) {
      const ttl = Math.max(this.options.replay.maxAge, 3_600_000);
      pipeline.pexpire(this.key(`filters:${stream}`), ttl);
      pipeline.pexpire(this.key(`filters-seen:${stream}`), ttl);
      if (scoped) pipeline.pexpire(this.key(`scopes:${stream}`), ttl);
    }
    pipeline
      .exec()
      .then(() => this.forgetStale(now - 3 * this.keepAliveEvery()))
      .catch((error: Error) => this.degrade(error));
  }

  private keepAliveEvery(): number {
    return Math.max(1000, this.options.replay.maxAge / 2);
  }

  /** Drops the filters not seen since `before` from Redis, and tells every instance to forget them. */
  private async forgetStale(before: number): Promise<void> {
    for (const { stream } of this.host.streams()) {
      // The hash first: a filter registered after this read is not considered.
      const known = await this.pub.hkeys(this.key(`filters:${stream}`));
      const stale = await this.pub.zrangebyscore(this.key(`filters-seen:${stream}`), '-inf', before);
      // Filters registered before this version have no mark: they are known to the hash only.
      const seen = new Set(await this.pub.zrange(this.key(`filters-seen:${stream}`), 0, -1));
      const rooms = [...stale, ...known.filter((room) => !seen.has(room))].filter((room) => !this.host.hasRoom(room));
      if (rooms.length === 0) continue;
      await this.pub
        .multi()
        .hdel(this.key(`filters:${stream}`), ...rooms)
        .zrem(this.key(`filters-seen:${stream}`), ...rooms)
        .publish(this.key('filters-gone'), JSON.stringify({ stream, rooms }))
        .exec();
    }
  }

  private degrade(error: Error): void {
    if (this.degraded) return;
    this.degraded = true;
    this.logger.error(`Redis unreachable (${error.message}): serving local pushes only until it returns`);
  }

  private recover(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.logger.log('Redis is back: pushes are shared between instances again');
    this.loadFilters().catch((error: Error) => this.degrade(error));
    for (const { stream, scope } of this.shared.values()) void this.scopeCreated(stream, scope);
  }

  private key(name: string): string {
    return this.prefix + name;
  }
}
