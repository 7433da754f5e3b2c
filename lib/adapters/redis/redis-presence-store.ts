import type { OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';
import { PresenceStore, type PresenceEntry } from '../../channels/presence-store.js';

// Each script runs atomically in Redis, so two instances adding or removing sockets of the
// same user at once still see exactly one "joined" and one "parted".
const ADD = `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[3])
  return 1
end
return 0`;

const REMOVE = `
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return 1`;

const SET_STATE = `
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1`;

/**
 * Presence shared by every instance: per channel, a sorted set of users (by join time), a
 * set of sockets per user, and a hash of states. A user parts when its last socket, on any
 * instance, leaves.
 */
export class RedisPresenceStore extends PresenceStore implements OnModuleDestroy {
  private readonly redis: Redis;

  constructor(url: string, private readonly prefix: string) {
    super();
    this.redis = new Redis(url, { maxRetriesPerRequest: 1 });
    this.redis.on('error', () => undefined); // the push bus logs Redis outages once
  }

  onModuleDestroy(): void {
    this.redis.disconnect();
  }

  async add(channel: string, user: string, socket: string): Promise<boolean> {
    return (await this.redis.eval(ADD, 2, this.key(channel, `sockets:${user}`), this.key(channel, 'users'), socket, Date.now(), user)) === 1;
  }

  async remove(channel: string, user: string, socket: string): Promise<boolean> {
    return (await this.redis.eval(REMOVE, 3, this.key(channel, `sockets:${user}`), this.key(channel, 'users'), this.key(channel, 'states'), socket, user)) === 1;
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

  private key(channel: string, part: string): string {
    return `${this.prefix}presence:${channel}:${part}`;
  }
}
