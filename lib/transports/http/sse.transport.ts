import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { Dispatcher } from '../../actions/dispatcher.js';
import { AccessPolicy } from '../../auth/access-policy.js';
import { Authenticator } from '../../auth/authenticator.js';
import { checkOrigin } from '../../auth/origin-check.js';
import { BINDINGS_OPTIONS } from '../../bindings.constants.js';
import type { ResolvedOptions } from '../../bindings.options.js';
import { BindingError } from '../../protocol/binding-error.js';
import { UserConnections } from '../../auth/user-connections.js';
import { httpFailure } from './http-failure.js';
import { nodeResponse, takeOver } from './platform.js';
import { BindingRegistry } from '../../registry/binding.registry.js';
import { RoomHub } from '../../rooms/room-hub.js';
import { LiveSseStream, SseStream } from './sse-stream.js';
import { parseOrderString } from '../../query/index.js';
import type { ActionContext } from '../../rooms/action-context.js';

/**
 * `GET /<prefix>/<app>/<Model>/events?id=…|filter=<json>`: the pushes of one room as
 * Server-Sent Events. The stream subscribes through the same `subscribe` action as a
 * WebSocket (authenticate, `scope`, `can.retrieve`, `can.subscribe`), so what it may see
 * and the errors it gets are the same; an error is answered as JSON before the stream
 * starts. `Last-Event-ID` (or `?lastEventId=`) is the `since` of the subscription.
 */
@Injectable()
export class SseTransport implements OnModuleDestroy {
  readonly streams = new Set<SseStream>();
  /** Open streams per identified user, for `limits.connectionsPerUser` (counted apart from WebSockets). */
  private readonly users: UserConnections;
  private heartbeat?: ReturnType<typeof setInterval>;

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly dispatcher: Dispatcher,
    private readonly authenticator: Authenticator,
    private readonly registry: BindingRegistry,
    private readonly rooms: RoomHub,
    private readonly policy: AccessPolicy,
  ) {
    this.users = new UserConnections(options.limits.connectionsPerUser);
  }

  onModuleDestroy(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const stream of this.streams) stream.end();
  }

  /** `reply` is the platform's response (`@Res()`); the stream writes to Node's response behind it. */
  async open(req: IncomingMessage, reply: unknown, app: string, model: string, query: Record<string, unknown>): Promise<void> {
    return this.serve(req, reply, app, model, query, false);
  }

  /**
   * `GET /<prefix>/<app>/<Model>/live?filter=&order=&limit=&page=&q=&include=`: a live list
   * (PROTOCOL.md section 9) as events `page` then `changed`, each with `id: <seq>`. The
   * request is the `list` (or, with `q`, the `search`) of a WebSocket with `live: true`,
   * under the same checks and limits.
   */
  openLive(req: IncomingMessage, reply: unknown, app: string, model: string, query: Record<string, unknown>): Promise<void> {
    return this.serve(req, reply, app, model, query, true);
  }

  private async serve(req: IncomingMessage, reply: unknown, app: string, model: string, query: Record<string, unknown>, live: boolean): Promise<void> {
    let user: unknown;
    try {
      checkOrigin(req, this.options.origins);
      user = await this.authenticator.authenticate(req);
    } catch (error) {
      fail(error);
    }
    const stream = `${app}.${model}`;
    if (!this.registry.get(stream)) fail(new BindingError('unknown_event', `No binding named ${stream}`));
    const data = live ? readLiveInput(query) : readInput(req, query);
    let name: string | undefined;
    try {
      name = this.policy.identify(user);
    } catch (error) {
      fail(error); // identify threw: internal (500)
    }
    if (this.users.full(name)) fail(new BindingError('rate_limited', 'Too many connections for this user'));

    const res = nodeResponse(reply);
    const sse = live
      ? new LiveSseStream(user, res, this.options.keys.event, this.options.limits.sendBuffer)
      : new SseStream(user, res, this.options.keys.event, this.options.limits.sendBuffer);
    const release = this.users.add(name);
    let done = false;
    const cleanup = () => {
      if (done) return;
      done = true;
      this.streams.delete(sse);
      this.rooms.leaveAll(sse);
      release();
      if (this.streams.size === 0) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
    };
    res.once('close', cleanup);

    let joined: { room: string; recovered?: boolean; seq: number };
    const ctx: ActionContext = { user, transport: 'http', subscriber: sse, afterReply: [] };
    const event = live ? `${stream}.${data.q === undefined ? 'list' : 'search'}` : `${stream}.subscribe`;
    try {
      joined = (await this.dispatcher.dispatch(event, data, ctx)) as typeof joined;
    } catch (error) {
      cleanup();
      fail(error);
    }
    if (sse.closed) {
      takeOver(reply); // the client left while we subscribed: nothing is to be answered
      return cleanup();
    }
    this.streams.add(sse);
    if (this.options.sse.heartbeat > 0) this.heartbeat ??= setInterval(() => this.streams.forEach((s) => s.heartbeat()), this.options.sse.heartbeat).unref();
    takeOver(reply);
    if (live) (sse as LiveSseStream).page(joined);
    sse.start();
    // Frames of a live list waited for its page.
    for (const then of ctx.afterReply!) then(true);
    if (joined.recovered === false) sse.resync(joined.room);
  }
}

/** `{id}` or `{filter}` (or neither: the model room), and `since` from Last-Event-ID. Other parameters belong to the application (`?token=`). */
function readInput(req: IncomingMessage, query: Record<string, unknown>): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const key of ['id', 'filter', 'lastEventId']) {
    const value = query[key];
    if (value !== undefined && typeof value !== 'string') fail(BindingError.badRequest(`Query parameter ${key} must be given once`));
  }
  if (query.id !== undefined) data.id = query.id;
  if (query.filter !== undefined) {
    try {
      data.filter = JSON.parse(query.filter as string);
    } catch {
      fail(BindingError.badRequest('filter must be JSON'));
    }
  }
  const header = req.headers['last-event-id'];
  const last = typeof header === 'string' && header !== '' ? header : (query.lastEventId as string | undefined);
  if (last !== undefined) {
    if (!/^\d{1,15}$/.test(last)) {
      fail(
        BindingError.badRequest('Last-Event-ID must be the seq of a push (a non-negative integer)', [
          { field: 'lastEventId', constraint: 'min', message: 'a non-negative integer' },
        ]),
      );
    }
    data.since = Number(last);
  }
  return data;
}

/** The live request from `filter=<json>&order=-price,name&limit=&page=&q=&include=a,b`, with `live: true`. */
function readLiveInput(query: Record<string, unknown>): Record<string, unknown> {
  const data: Record<string, unknown> = { live: true };
  for (const [key, value] of Object.entries(query)) {
    if (typeof value !== 'string') fail(BindingError.badRequest(`Query parameter ${key} must be given once`));
    const text = value as string;
    switch (key) {
      case 'filter':
        try {
          data.filter = JSON.parse(text);
        } catch {
          fail(BindingError.badRequest('filter must be JSON'));
        }
        break;
      case 'order':
        try {
          data.order = parseOrderString(text);
        } catch (error) {
          fail(error);
        }
        break;
      case 'page':
      case 'limit':
      case 'q':
        data[key] = text;
        break;
      case 'include':
        data.include = text.split(',').filter(Boolean);
        break;
      case 'token':
      case 'access_token':
      case '_':
        break; // the application's (authenticate) or a cache buster
      default:
        fail(
          BindingError.badRequest(`Unknown query parameter ${key}; accepted: filter, order, limit, page, q, include`, [
            { field: key, constraint: 'whitelist', message: `${key} is not a query parameter of this route` },
          ]),
        );
    }
  }
  return data;
}

function fail(error: unknown): never {
  throw httpFailure(error);
}
