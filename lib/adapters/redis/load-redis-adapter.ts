import { MissingPackageException } from '../../exceptions/missing-package.exception.js';
import { importOptional } from '../../optional-package.js';

/**
 * The Redis adapter's class, loaded only when `adapter.redis` is set: ioredis is an
 * optional peer dependency, so an application without it must never load these modules.
 */
export async function loadRedisAdapter() {
  if (!(await importOptional('ioredis'))) throw new MissingPackageException('ioredis', 'adapter.redis');
  return (await import('./redis-room-adapter.js')).RedisRoomAdapter;
}
