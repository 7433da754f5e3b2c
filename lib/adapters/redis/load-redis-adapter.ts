import { MissingPackageException } from '../../exceptions/missing-package.exception.js';

/**
 * The Redis adapter's class, loaded only when `adapter.redis` is set: ioredis is an
 * optional peer dependency, so an application without it must never load these modules.
 */
export async function loadRedisAdapter() {
  try {
    // A specifier in a variable: nothing resolves it unless this function runs.
    const name = 'ioredis';
    await import(name);
  } catch {
    throw new MissingPackageException('ioredis', 'adapter.redis');
  }
  return (await import('./redis-room-adapter.js')).RedisRoomAdapter;
}
