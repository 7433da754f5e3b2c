import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ChannelConfig } from '../interfaces/bindings-module-options.interface.js';
import { BindingError } from '../protocol/binding-error.js';

/** What the backend API asks of every instance: each applies it to the connections it holds. */
export type Command =
  | { kind: 'subscribe' | 'unsubscribe'; user: string; channels: string[] }
  | { kind: 'state'; user: string; state: unknown; id: string }
  | { kind: 'disconnect'; user: string }
  | { kind: 'config'; channel: string; config: ChannelConfig };

/**
 * Gets the backend's commands to every instance. A user's connections may be on any
 * instance, so with Redis a command is published to all of them (each applies it to its own
 * connections); run-time channel settings are also kept in a Redis hash for instances that
 * start later. Alone, a command is applied here. Published first: when Redis does not take
 * it, nothing is applied anywhere and the call answers `internal`.
 */
export class CommandBus {
  private readonly logger = new Logger('BindingsStandalone');
  private readonly origin = randomBytes(6).toString('hex');

  private constructor(
    private readonly apply: (command: Command) => Promise<void>,
    private readonly redis?: { pub: Redis; sub: Redis; prefix: string },
  ) {}

  /** A bus over Redis when `redis` is given (ioredis is loaded only then), in this process otherwise. */
  static async open(apply: (command: Command) => Promise<void>, redis?: { url: string; keyPrefix?: string }): Promise<CommandBus> {
    if (!redis) return new CommandBus(apply);
    const { openConnection } = await import('../adapters/redis/redis-connection.js');
    const options = { maxRetriesPerRequest: 1 };
    const connections = { pub: openConnection(redis.url, options), sub: openConnection(redis.url, options), prefix: redis.keyPrefix ?? 'nb:' };
    const bus = new CommandBus(apply, connections);
    for (const client of [connections.pub, connections.sub]) client.on('error', () => undefined); // the room adapter logs Redis outages
    connections.sub.on('message', (_channel, text) => bus.receive(text));
    // Subscribed whenever the connection is (again) ready: Redis may be away at start, and the
    // server serves its own connections meanwhile, as the room adapter does.
    connections.sub.on('ready', () => void connections.sub.subscribe(bus.channel).catch(() => undefined));
    return bus;
  }

  private get channel(): string {
    return `${this.redis!.prefix}standalone:commands`;
  }

  /** Applies `command` on every instance; resolves once it is applied here. */
  async send(command: Command): Promise<void> {
    if (this.redis) {
      try {
        if (command.kind === 'config')
          await this.redis.pub.hset(`${this.redis.prefix}standalone:channel-config`, command.channel, JSON.stringify(command.config));
        await this.redis.pub.publish(this.channel, JSON.stringify({ origin: this.origin, command }));
      } catch {
        throw new BindingError('internal', 'The other server instances cannot be reached (Redis does not answer); nothing was done');
      }
    }
    await this.apply(command);
  }

  /** The run-time channel settings recorded by any instance (none without Redis). */
  async channelConfigs(): Promise<Array<[string, ChannelConfig]>> {
    if (!this.redis) return [];
    try {
      const all = await this.redis.pub.hgetall(`${this.redis.prefix}standalone:channel-config`);
      return Object.entries(all).map(([channel, text]) => [channel, JSON.parse(text) as ChannelConfig]);
    } catch (error) {
      this.logger.error(
        `The channel settings of the other instances could not be read (${(error as Error).message}); this one starts with the configuration's`,
      );
      return [];
    }
  }

  close(): void {
    this.redis?.pub.disconnect();
    this.redis?.sub.disconnect();
  }

  private receive(text: string): void {
    let message: { origin: string; command: Command };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.origin === this.origin) return;
    this.apply(message.command).catch((error: unknown) =>
      this.logger.error(`A ${message.command?.kind} command failed here: ${(error as Error)?.message ?? error}`),
    );
  }
}
