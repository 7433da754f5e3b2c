import { Redis, type Cluster, type RedisOptions } from 'ioredis';

/** A Redis to share rooms through: a URL, or the application's own client (a Redis or a Cluster). */
export type RedisSource = string | Redis | Cluster;

/**
 * A connection of the adapter's own. From a URL, a new client; from the application's client,
 * a duplicate() of it (same hosts, TLS, credentials, cluster nodes) with `overrides`: the
 * library never subscribes on, reconfigures or quits the application's connection, and
 * disconnects only the duplicates at shutdown. The client's own ioredis `keyPrefix` is not
 * carried over: the adapter's scripts build some keys inside Redis, where ioredis cannot
 * prefix them, so the adapter's `keyPrefix` option is the one prefix of every key.
 */
export function openConnection(source: RedisSource, overrides: RedisOptions): Redis {
  const unprefixed = { ...overrides, keyPrefix: '' };
  if (typeof source === 'string') return new Redis(source, unprefixed);
  if (source.isCluster) {
    const cluster = source as Cluster;
    const { enableOfflineQueue, lazyConnect, ...perNode } = unprefixed;
    // A Cluster answers the same commands as a Redis (keys of one hash slot: see keyPrefix).
    return cluster.duplicate(undefined, {
      keyPrefix: '',
      ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
      ...(lazyConnect === undefined ? {} : { lazyConnect }),
      redisOptions: { ...cluster.options.redisOptions, ...perNode },
    }) as unknown as Redis;
  }
  return (source as Redis).duplicate(unprefixed);
}
