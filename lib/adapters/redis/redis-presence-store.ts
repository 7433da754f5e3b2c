import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { PresenceStore, type PresenceEntry } from '../presence-store.js';
import { InvalidOptionsException } from '../../exceptions/invalid-options.exception.js';

// Each script runs atomically in Redis, so two instances adding or removing sockets of the
// same user at once still see exactly one "joined" and one "parted". Every socket entry is
// also listed in the set of the instance that holds it (KEYS[3]/KEYS[4]), so that the others
// can remove them when that instance is gone.
const ADD = `
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[3])
  return 1
end
return 0`;

const REMOVE = `
redis.call('SREM', KEYS[4], ARGV[3])
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1`;

const SET_STATE = `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1`;

// Refreshes this instance's heartbeat; answers 1 when the instance was not registered (its
// first beat, or the others took it for gone while it paused longer than the TTL).
const BEAT = `
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return redis.call('SADD', KEYS[2], ARGV[2])`;

// Removes every socket entry of an instance whose heartbeat has expired; answers the
// [channel, user] pairs whose last socket it was (they parted). The channel keys are built
// here from the entries, so this needs a single Redis (not a cluster), as pub/sub does.
const REAP = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local parted = {}
for _, raw in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local entry = cjson.decode(raw)
  local base = ARGV[1] .. 'presence:' .. entry[1] .. ':'
  local sockets = base .. 'sockets:' .. entry[2]
  if redis.call('SREM', sockets, entry[3]) == 1 and redis.call('SCARD', sockets) == 0 then
    redis.call('ZREM', base .. 'users', entry[2])
    redis.call('HDEL', base .. 'states', entry[2])
    table.insert(parted, entry[1])
    table.insert(parted, entry[2])
  end
end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[2], ARGV[2])
return parted`;

/**
 * Presence shared by every instance: per channel, a sorted set of users (by join time), a
 * set of sockets per user, and a hash of states. A user parts when its last socket, on any
 * instance, leaves. An instance that stops without closing its sockets (a crash, a killed
 * process) would leave them present forever: each instance refreshes a heartbeat key that
 * expires after `ttl` ms, and the others remove the sockets of an instance whose heartbeat
 * has expired, announcing the users that part. A user of a crashed instance thus parts
 * within `ttl` plus one check (every `ttl / 3`).
 */
export class RedisPresenceStore extends PresenceStore implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('BindingsModule');
  private readonly instance = randomBytes(6).toString('hex');
  /** This instance's socket entries, to put back if the others took it for gone. */
  private readonly held = new Set<string>();
  /** Removals that failed (Redis away): retried on each tick, so a live instance leaves nothing behind. */
  private readonly retry = new Set<string>();
  private timer?: NodeJS.Timeout;
  private registered = false;

  /** `redis`: a connection of the store's own, disconnected at shutdown. */
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttl = 30_000,
  ) {
    super();
    if (!Number.isSafeInteger(ttl) || ttl < 100) {
      throw new InvalidOptionsException('adapter.presenceTtl', `is ${ttl}`, 'Give a whole number of milliseconds, at least 100 (default 30,000).');
    }
    this.redis.on('error', () => undefined); // the push bus logs Redis outages once
  }

  onModuleInit(): void {
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(this.ttl / 3))).unref();
    void this.tick();
  }

  /** After the sockets have closed (their departures sent): the others clean up what is left. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.redis.del(this.own('alive', this.instance)).catch(() => undefined);
    this.redis.disconnect();
  }

  async add(channel: string, user: string, socket: string): Promise<boolean> {
    const entry = JSON.stringify([channel, user, socket]);
    this.held.add(entry);
    this.retry.delete(entry);
    return (
      (await this.redis.eval(
        ADD,
        3,
        this.key(channel, `sockets:${user}`),
        this.key(channel, 'users'),
        this.own('held', this.instance),
        socket,
        Date.now(),
        user,
        entry,
      )) === 1
    );
  }

  async remove(channel: string, user: string, socket: string): Promise<boolean> {
    const entry = JSON.stringify([channel, user, socket]);
    this.held.delete(entry);
    try {
      const parted =
        (await this.redis.eval(
          REMOVE,
          4,
          this.key(channel, `sockets:${user}`),
          this.key(channel, 'users'),
          this.key(channel, 'states'),
          this.own('held', this.instance),
          socket,
          user,
          entry,
        )) === 1;
      this.retry.delete(entry);
      return parted;
    } catch (error) {
      this.retry.add(entry);
      throw error;
    }
  }

  async setState(channel: string, user: string, state: unknown): Promise<boolean> {
    return (await this.redis.eval(SET_STATE, 2, this.key(channel, 'users'), this.key(channel, 'states'), user, JSON.stringify(state ?? null))) === 1;
  }

  async list(channel: string): Promise<PresenceEntry[]> {
    const users = await this.redis.zrange(this.key(channel, 'users'), 0, -1);
    if (users.length === 0) return [];
    const states = await this.redis.hmget(this.key(channel, 'states'), ...users);
    return users.map((user, i) => ({ user, state: states[i] === null ? null : JSON.parse(states[i]!) }));
  }

  /** Refreshes this instance's heartbeat, then removes the entries of instances that are gone. */
  private async tick(): Promise<void> {
    try {
      const unregistered = (await this.redis.eval(BEAT, 2, this.own('alive', this.instance), this.own('all'), this.ttl, this.instance)) === 1;
      if (unregistered && this.registered) await this.restore();
      this.registered = true;
      for (const entry of [...this.retry]) {
        const [channel, user, socket] = JSON.parse(entry) as [string, string, string];
        if (await this.remove(channel, user, socket)) this.changed?.(channel, user, 'parted');
      }
      for (const other of await this.redis.smembers(this.own('all'))) {
        if (other === this.instance) continue;
        const parted = (await this.redis.eval(REAP, 3, this.own('alive', other), this.own('all'), this.own('held', other), this.prefix, other)) as string[];
        for (let i = 0; i < parted.length; i += 2) this.changed?.(parted[i], parted[i + 1], 'parted');
      }
    } catch {
      // Redis is away: the next tick tries again (the push bus logs the outage).
    }
  }

  /** This instance paused past its TTL and the others removed its sockets: put them back. */
  private async restore(): Promise<void> {
    this.logger.warn(`Presence: this instance missed its heartbeat for over ${this.ttl} ms; its sockets were taken for gone and are restored`);
    for (const entry of this.held) {
      const [channel, user, socket] = JSON.parse(entry) as [string, string, string];
      if (await this.add(channel, user, socket)) this.changed?.(channel, user, 'joined');
    }
  }

  private key(channel: string, part: string): string {
    return `${this.prefix}presence:${channel}:${part}`;
  }

  /** Keys of the instances themselves, apart from every channel's. */
  private own(...parts: string[]): string {
    return `${this.prefix}presence-instances:${parts.join(':')}`;
  }
}
