import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SignatureLedger } from '../adapters/signature-ledger.js';
import { ChannelActions } from '../channels/channel-actions.js';
import type { Subscriber } from '../rooms/subscriber.js';
import { SseStream } from '../transports/http/sse-stream.js';
import { WsConnection } from '../transports/ws/ws-connection.js';
import { WsTransport } from '../transports/ws/ws-transport.js';
import { ChannelRules } from './channel-rules.js';
import { CommandBus, type Command } from './command-bus.js';
import type { StandaloneConfig } from './config.js';
import { EventStreams } from './event-streams.js';
import { STANDALONE_CONFIG } from './standalone.constants.js';
import type { StandaloneUser } from './token-auth.js';

/** Close code of a connection the backend ended (`POST /api/disconnect`); 4000-4999 are the application's. */
export const CLOSE_DISCONNECTED = 4001;

/**
 * The connections of the standalone server's users, as the backend API reaches them: every
 * command goes through the CommandBus to every instance, and each applies it to the sockets
 * and event streams of the user it holds.
 */
@Injectable()
export class StandaloneUsers implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('BindingsStandalone');
  private bus?: CommandBus;

  constructor(
    @Inject(STANDALONE_CONFIG) private readonly config: StandaloneConfig,
    private readonly rules: ChannelRules,
    private readonly ws: WsTransport,
    private readonly streams: EventStreams,
    private readonly channels: ChannelActions,
    private readonly ledger: SignatureLedger,
  ) {}

  async onModuleInit(): Promise<void> {
    const adapter = this.config.adapter;
    this.bus = await CommandBus.open((command) => this.apply(command), adapter && { url: adapter.redis, keyPrefix: adapter.keyPrefix });
    for (const [channel, config] of await this.bus.channelConfigs()) this.rules.set(channel, config);
  }

  onModuleDestroy(): void {
    this.bus?.close();
  }

  /** Applies `command` on every instance (see CommandBus). */
  send(command: Command): Promise<void> {
    return this.bus!.send(command);
  }

  /** The sockets and event streams of `user` on this instance. */
  connectionsOf(user: string): Subscriber[] {
    const found: Subscriber[] = [];
    for (const connection of this.ws.connections.values()) if ((connection.user as StandaloneUser | null)?.id === user) found.push(connection);
    for (const stream of this.streams.streams) if ((stream.user as StandaloneUser).id === user) found.push(stream);
    return found;
  }

  private async apply(command: Command): Promise<void> {
    if (command.kind === 'config') {
      this.rules.set(command.channel, command.config);
      return;
    }
    const connections = this.connectionsOf(command.user);
    switch (command.kind) {
      case 'subscribe':
        for (const connection of connections) {
          const user = connection.user as StandaloneUser;
          for (const channel of command.channels) {
            user.channels.add(channel);
            await this.channels.enter(connection, channel).catch((error: Error) => this.refused(command, error));
          }
        }
        return;
      case 'unsubscribe':
        for (const connection of connections) {
          const user = connection.user as StandaloneUser;
          for (const channel of command.channels) {
            user.channels.delete(channel);
            await this.channels.exit(connection, channel);
          }
        }
        return;
      case 'state':
        return this.setState(connections, command.user, command.state, command.id);
      case 'disconnect':
        for (const connection of connections) {
          if (connection instanceof WsConnection) connection.socket.close(CLOSE_DISCONNECTED, 'disconnected by the backend');
          else if (connection instanceof SseStream) connection.end();
        }
        return;
    }
  }

  /**
   * The user's new state, in every channel it is present in (and for the channels it joins
   * later). Where the user has connections on several instances, each stores the state and
   * the first to claim the command's id for a channel announces it there, once.
   */
  private async setState(connections: Subscriber[], user: string, state: unknown, id: string): Promise<void> {
    const present = new Set<string>();
    for (const connection of connections) {
      (connection.user as StandaloneUser).state = state;
      for (const channel of this.channels.presentIn(connection)) present.add(channel);
    }
    for (const channel of present) {
      try {
        if (!(await this.channels.storeState(channel, user, state))) continue;
        if (await this.ledger.claim(`state:${id}:${channel}`, Date.now() + 60_000)) this.channels.broadcast(channel, 'channel.state', { channel, user, state });
      } catch (error) {
        this.refused({ kind: 'state', user, state, id }, error as Error);
      }
    }
  }

  private refused(command: Command, error: Error): void {
    this.logger.warn(`The backend's ${command.kind} of ${'user' in command ? command.user : ''} was not applied here: ${error.message}`);
  }
}
