import type { OnModuleDestroy } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { SignatureLedger } from '../signature-ledger.js';

/**
 * The ledger shared by every instance: `SET key NX PX`, so a signature accepted by one
 * instance is a replay on all of them. When Redis does not answer, the claim fails and the
 * publish is refused (fail closed: the backend can retry with a new signature).
 */
export class RedisSignatureLedger extends SignatureLedger implements OnModuleDestroy {
  /** `redis`: a connection of the ledger's own, disconnected at shutdown. */
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    super();
    this.redis.on('error', () => undefined); // the push bus logs Redis outages once
  }

  onModuleDestroy(): void {
    this.redis.disconnect();
  }

  async claim(key: string, expiresAt: number): Promise<boolean> {
    const ttl = Math.max(1, expiresAt - Date.now());
    return (await this.redis.set(`${this.prefix}publish:${key}`, '1', 'PX', ttl, 'NX')) === 'OK';
  }
}
