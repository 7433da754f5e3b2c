import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { ApplicationConfig, HttpAdapterHost } from '@nestjs/core';
import { STATUS_CODES, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { BINDINGS_OPTIONS } from '../../bindings.constants.js';
import type { ResolvedOptions } from '../../bindings.options.js';
import { AccessPolicy } from '../../auth/access-policy.js';
import { AuthenticateFailed, Authenticator } from '../../auth/authenticator.js';
import { checkOrigin } from '../../auth/origin-check.js';
import { Traffic } from '../../admin/traffic.js';
import { UserConnections } from '../../auth/user-connections.js';
import { BindingError } from '../../protocol/binding-error.js';
import { FrameCodec, FrameError, UNREADABLE_EVENT } from '../../protocol/frame-codec.js';
import { RoomHub } from '../../rooms/room-hub.js';
import type { ActionContext } from '../../rooms/action-context.js';
import { CLOSE_POLICY_VIOLATION, WsConnection } from './ws-connection.js';
import { WsEnhancers } from './ws-enhancers.js';
import { createThroughAdapter, isNestWsAdapter, type WsAdapterLike } from './nest-ws-adapter.js';
import { HeartbeatSocket, markAlive } from './heartbeat-socket.js';

/** The error of a reply that could not be serialized, made only then (an Error records its stack: costly on every reply). */
const internalFailure = () => new BindingError('internal', 'Internal error');
const ignore = () => undefined;

/**
 * The WebSocket side. It reads each socket's frames directly (no per-message observable
 * pipeline) and hands them to the dispatcher. When the application uses Nest's WsAdapter,
 * the server is created through it so both share the HTTP server's upgrade routing;
 * otherwise it listens for upgrades on its own path and leaves every other path alone.
 */
@Injectable()
export class WsTransport implements OnApplicationBootstrap, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger('BindingsModule');
  private server?: WebSocketServer;
  private detachUpgrade?: () => void;
  private heartbeat?: NodeJS.Timeout;
  /** Users authenticated during the upgrade, picked up when the connection opens. */
  private readonly upgradeUsers = new WeakMap<IncomingMessage, unknown>();
  readonly connections = new Map<WebSocket, WsConnection>();
  /** Open sockets per identified user, for `limits.connectionsPerUser`. */
  private readonly users: UserConnections;
  /** Set once the application shuts down: new sockets are closed at once. */
  private closing = false;
  /** One listener of each kind for every socket (`this` is the socket): closures per socket would cost each idle socket about 0.3 KiB. */
  private readonly listeners: {
    message: (this: WebSocket, raw: RawData, isBinary: boolean) => void;
    close: (this: WebSocket) => void;
  };

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly appConfig: ApplicationConfig,
    private readonly enhancers: WsEnhancers,
    private readonly codec: FrameCodec,
    private readonly rooms: RoomHub,
    private readonly authenticator: Authenticator,
    private readonly policy: AccessPolicy,
    private readonly traffic: Traffic,
  ) {
    this.users = new UserConnections(options.limits.connectionsPerUser);
    const connections = this.connections;
    const receive = (connection: WsConnection, raw: RawData, isBinary: boolean) => this.receive(connection, raw, isBinary);
    const closed = (ws: WebSocket, connection: WsConnection) => {
      connections.delete(ws);
      this.traffic.sockets--;
      this.users.remove(connection.budgetUser ?? undefined);
      this.rooms.leaveAll(connection);
    };
    this.listeners = {
      message(raw, isBinary) {
        const connection = connections.get(this);
        if (connection) receive(connection, raw, isBinary);
      },
      close() {
        const connection = connections.get(this);
        if (connection) closed(this, connection);
      },
    };
  }

  async onApplicationBootstrap(): Promise<void> {
    const httpServer: HttpServer | undefined = this.adapterHost.httpAdapter?.getHttpServer();
    if (!httpServer) {
      this.logger.warn('No HTTP server: the WebSocket bindings are not served');
      return;
    }
    const options = {
      maxPayload: this.options.limits.maxPayload, // ws closes a larger frame with 1009
      perMessageDeflate: false,
      // `connections` tracks every socket: ws's own set would add an entry and a close
      // listener (a closure) per socket, and shutdown closes the sockets itself.
      clientTracking: false,
      // Sockets of our own `ws`, also when the server is made by Nest's WsAdapter, which may
      // bring an older copy: before 8.23 a socket's receiver keeps a view of the last buffer
      // it read (its frame mask) for as long as it stays idle, about 0.25 KiB per socket here.
      // They note pongs themselves, without a listener per socket (heartbeat-socket.ts).
      WebSocket: HeartbeatSocket,
      verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, status?: number, message?: string) => void) => {
        try {
          checkOrigin(info.req, this.options.origins);
        } catch (error) {
          return done(false, 403, (error as Error).message);
        }
        // A hook that throws (authenticate, identify) refuses this upgrade with 500; nothing
        // may escape this callback, where it would end the process.
        this.authenticator
          .authenticate(info.req)
          .then(
            (user) => {
              let full: boolean;
              try {
                full = this.atUserLimit(user);
              } catch {
                return done(false, 500, 'Internal error');
              }
              if (full) return done(false, 429, 'Too many connections for this user');
              this.upgradeUsers.set(info.req, user);
              done(true);
            },
            (error: unknown) => {
              const refused = error instanceof BindingError && error.code === 'unauthorized' && !(error instanceof AuthenticateFailed);
              done(false, refused ? 401 : 500, refused ? error.message : 'Internal error');
            },
          )
          .catch((error: unknown) => this.logger.error(`A WebSocket upgrade failed: ${(error as Error)?.stack ?? error}`));
      },
    };
    const adapter: unknown = this.appConfig.getIoAdapter();
    if (await isNestWsAdapter(adapter)) {
      this.server = (await createThroughAdapter(adapter as WsAdapterLike, { path: this.options.path, ...options })) as WebSocketServer;
    } else {
      this.server = new WebSocketServer({ noServer: true, ...options });
      const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (pathOf(req) !== this.options.path) {
          // Other paths belong to other upgrade listeners; with none, nobody would ever
          // answer and the socket would hang open, so refuse it as the WsAdapter does.
          if (httpServer.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404);
          return;
        }
        this.server!.handleUpgrade(req, socket, head, (ws) => this.server!.emit('connection', ws, req));
      };
      httpServer.on('upgrade', onUpgrade);
      this.detachUpgrade = () => httpServer.off('upgrade', onUpgrade);
    }
    this.server!.on('connection', (ws: WebSocket, req: IncomingMessage) => this.accept(ws, req));
    this.heartbeat = setInterval(() => this.beat(), this.options.heartbeatInterval).unref();
    this.logger.log(`WebSocket bindings on ${this.options.path}`);
  }

  onModuleDestroy(): void {
    clearInterval(this.heartbeat);
  }

  /**
   * `app.close()`: after every module's onModuleDestroy (the database is still open), stop
   * taking sockets, let the pushes still waiting for an asynchronous permission check
   * reach their sockets, then close each socket with 1001 "server shutting down" (the
   * close frame goes out after every frame already sent). Sockets that have not finished
   * the closing handshake within `shutdownTimeout` are dropped.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    this.detachUpgrade?.();
    const deadline = Date.now() + this.options.shutdownTimeout;
    const connections = [...this.connections.values()];
    await within(Promise.all(connections.map((c) => c.pending)), deadline);
    const closed = connections.map(
      (c) => new Promise<void>((resolve) => (c.socket.readyState === WebSocket.CLOSED ? resolve() : c.socket.once('close', () => resolve()))),
    );
    for (const { socket } of connections) socket.close(CLOSE_GOING_AWAY, 'server shutting down');
    await within(Promise.all(closed), deadline);
    for (const ws of this.connections.keys()) ws.terminate();
    this.server?.close();
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    if (this.closing) {
      ws.close(CLOSE_GOING_AWAY, 'server shutting down');
      return;
    }
    const user = this.upgradeUsers.get(req) ?? null;
    let name: string | undefined;
    try {
      name = this.policy.identify(user);
    } catch {
      ws.close(CLOSE_INTERNAL_ERROR, 'Internal error'); // identify threw (logged) although it passed at the upgrade
      return;
    }
    // Upgrades verified at the same time may all have passed the check: close the extra ones.
    if (this.users.full(name)) {
      ws.close(CLOSE_POLICY_VIOLATION, 'Too many connections for this user');
      return;
    }
    const connection = new WsConnection(ws, user, name ?? null, this.options.limits);
    this.connections.set(ws, connection);
    this.traffic.sockets++;
    // Counted under the name the connection keeps, uncounted when it closes (no closure per socket).
    this.users.count(name);
    if (!(ws instanceof HeartbeatSocket)) ws.on('pong', markAlive);
    ws.on('message', this.listeners.message);
    // ws closes the socket itself on protocol errors (1009 for an oversized frame, 1002...);
    // the listener only keeps the error from crashing the process. Nest's WsAdapter has
    // added one already (shared, createThroughAdapter): a second would cost each socket an
    // array of listeners.
    if (ws.listenerCount('error') === 0) ws.on('error', ignore);
    ws.on('close', this.listeners.close);
  }

  private receive(connection: WsConnection, raw: RawData, isBinary: boolean): void {
    this.traffic.requests++;
    let frame;
    let unreadable: FrameError | undefined;
    try {
      if (isBinary) throw new FrameError(BindingError.badRequest('Frames must be text (JSON)'));
      frame = this.codec.parse(raw.toString());
    } catch (error) {
      unreadable = error instanceof FrameError ? error : new FrameError(BindingError.badRequest('Unreadable frame'));
    }
    // Every frame takes from the budget, bad ones too: a flood of garbage costs as much to answer.
    if (!connection.admit(Date.now())) {
      const limited = new BindingError('rate_limited', `More than ${this.options.limits.framesPerSecond} frames per second; slow down`);
      connection.send(this.codec.error(frame?.event ?? unreadable?.event ?? UNREADABLE_EVENT, frame ? frame.id : unreadable?.id, limited));
      return;
    }
    if (!frame) {
      connection.send(this.codec.error(unreadable!.event ?? UNREADABLE_EVENT, unreadable!.id, unreadable!.error));
      return;
    }
    const { event, id, data } = frame;
    if (event === 'ping') {
      this.reply(connection, event, 'pong', id, data ?? null, () => BindingError.badRequest('data is nested too deeply to echo'));
      return;
    }
    const ctx: ActionContext = { user: connection.user, socket: connection.socket, id, transport: 'ws', subscriber: connection, afterReply: [] };
    this.enhancers.run(event, data, ctx).then(
      (reply) => {
        const sent = this.reply(connection, event, event, id, reply, internalFailure);
        for (const then of ctx.afterReply!) then(sent);
      },
      (error: BindingError) => {
        connection.send(this.codec.error(event, id, error));
        for (const then of ctx.afterReply!) then(false);
      },
    );
  }

  /**
   * Sends a success reply. Data that JSON cannot write (nested deeper than the stack allows,
   * circular, BigInt) gets the error `failed()` gives instead: every request still gets exactly one
   * reply, and a throw here would escape the socket's message handler.
   */
  private reply(
    connection: WsConnection,
    event: string,
    replyEvent: string,
    id: string | number | undefined,
    data: unknown,
    failed: () => BindingError,
  ): boolean {
    let frame: string;
    let sent = true;
    try {
      frame = this.codec.reply(replyEvent, id, data);
    } catch (error) {
      const failure = failed();
      if (failure.code === 'internal') this.logger.error(`The reply to ${event} could not be serialized: ${(error as Error)?.message ?? error}`);
      frame = this.codec.error(event, id, failure);
      sent = false;
    }
    connection.send(frame);
    return sent;
  }

  /** Whether `user` already holds `connectionsPerUser` sockets; anonymous users are not counted. */
  private atUserLimit(user: unknown): boolean {
    return this.users.full(this.policy.identify(user));
  }

  /** Drops peers that did not answer the previous ping, pings the others. */
  private beat(): void {
    for (const socket of this.connections.keys() as Iterable<HeartbeatSocket>) {
      // undefined on a socket not of the transport's class that has not been pinged yet
      if (socket.alive === false) {
        socket.terminate();
        continue;
      }
      socket.alive = false;
      socket.ping();
    }
  }
}

/** RFC 6455 "going away": the server is shutting down. */
const CLOSE_GOING_AWAY = 1001;
/** RFC 6455 "internal error": the server cannot serve this socket. */
const CLOSE_INTERNAL_ERROR = 1011;

/** Waits for `work`, but not past `deadline` (ms since the epoch). */
function within(work: Promise<unknown>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
  return Promise.race([
    work.then(
      () => undefined,
      () => undefined,
    ),
    timeout,
  ]).finally(() => clearTimeout(timer));
}

function refuseUpgrade(socket: Duplex, status: number): void {
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const end = url.indexOf('?');
  return end === -1 ? url : url.slice(0, end);
}
