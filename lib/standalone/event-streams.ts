import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { Authenticator } from '../auth/authenticator.js';
import { checkOrigin } from '../auth/origin-check.js';
import { UserConnections } from '../auth/user-connections.js';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { ChannelActions } from '../channels/channel-actions.js';
import { BindingError } from '../protocol/binding-error.js';
import { RoomHub } from '../rooms/room-hub.js';
import { httpFailure } from '../transports/http/http-failure.js';
import { nodeResponse, takeOver } from '../transports/http/platform.js';
import { SseStream } from '../transports/http/sse-stream.js';
import type { StandaloneUser } from './token-auth.js';

/**
 * `GET /api/events?token=`: the channel frames of one user as Server-Sent Events, for pages
 * that cannot keep a WebSocket. An event stream cannot send `channel.join`, so it joins the
 * channels its token names at once (counted in presence like a socket), and the backend's
 * `subscribe`/`unsubscribe` move it as they move sockets. Each frame is one event named
 * after the frame's event (`channel.message`, `channel.presence`...).
 */
@Injectable()
export class EventStreams implements OnModuleDestroy {
  readonly streams = new Set<SseStream>();
  private readonly users: UserConnections;
  private heartbeat?: NodeJS.Timeout;

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly authenticator: Authenticator,
    private readonly channels: ChannelActions,
    private readonly hub: RoomHub,
  ) {
    this.users = new UserConnections(options.limits.connectionsPerUser);
  }

  onModuleDestroy(): void {
    clearInterval(this.heartbeat);
    for (const stream of this.streams) stream.end();
  }

  async open(req: IncomingMessage, reply: unknown): Promise<void> {
    let user: StandaloneUser;
    try {
      checkOrigin(req, this.options.origins);
      user = (await this.authenticator.authenticate(req)) as StandaloneUser;
    } catch (error) {
      throw httpFailure(error);
    }
    if (this.users.full(user.id)) throw httpFailure(new BindingError('rate_limited', 'Too many connections for this user'));
    const res = nodeResponse(reply);
    const stream = new SseStream(user, res, this.options.keys.event, this.options.limits.sendBuffer);
    const release = this.users.add(user.id);
    this.streams.add(stream);
    res.once('close', () => {
      this.streams.delete(stream);
      release();
      this.hub.leaveAll(stream);
    });
    takeOver(reply);
    stream.start();
    for (const channel of user.channels) {
      if (stream.closed) break;
      await this.channels.enter(stream, channel).catch(() => undefined); // over a bound: that channel is not joined, the others are
    }
    if (this.options.sse.heartbeat > 0) this.heartbeat ??= setInterval(() => this.streams.forEach((s) => s.heartbeat()), this.options.sse.heartbeat).unref();
  }
}
