import { importOptional } from '../../optional-package.js';

/** A class, as `instanceof` needs it. */
type AnyClass = abstract new (...args: any[]) => unknown;

let wsAdapterClass: Promise<AnyClass | undefined> | undefined;

/**
 * Nest's `WsAdapter` class, or undefined when `@nestjs/platform-ws` is not installed (it is
 * optional: an application without it has no WsAdapter to share the upgrade routing with).
 * Loaded once, lazily, so the package is never required.
 */
function loadWsAdapterClass(): Promise<AnyClass | undefined> {
  return (wsAdapterClass ??= importOptional<{ WsAdapter?: AnyClass }>('@nestjs/platform-ws').then((module) =>
    typeof module?.WsAdapter === 'function' ? module.WsAdapter : undefined,
  ));
}

/** What the transport calls on a WsAdapter: `create(0, options)` attaches a `ws` server to the HTTP server. */
export interface WsAdapterLike {
  create(port: number, options: Record<string, unknown>): unknown;
}

/** What `createThroughAdapter` reads of Nest's WsAdapter besides `create`. */
interface ErrorLogging {
  bindErrorHandler?: (server: ServerEvents) => ServerEvents;
  logger?: { error(error: unknown): void };
}
interface ServerEvents {
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/**
 * `adapter.create(0, options)`: a `ws` server attached to the HTTP server through the
 * adapter, which routes every upgrade by path. Nest's `bindErrorHandler` logs the errors of
 * the server and of each socket with its logger, through a closure made for every socket
 * (about 56 bytes per idle socket): while an adapter keeps Nest's own `bindErrorHandler`,
 * the server is made with the same logging bound once, one listener shared by every socket.
 * An adapter that overrides it keeps its own.
 */
export async function createThroughAdapter(adapter: WsAdapterLike, options: Record<string, unknown>): Promise<unknown> {
  const WsAdapter = await loadWsAdapterClass();
  const nest = adapter as WsAdapterLike & ErrorLogging;
  const stock = (WsAdapter?.prototype as ErrorLogging | undefined)?.bindErrorHandler;
  const logger = nest.logger;
  if (!stock || nest.bindErrorHandler !== stock || Object.hasOwn(nest, 'bindErrorHandler') || typeof logger?.error !== 'function') {
    return adapter.create(0, options);
  }
  const logError = (error: unknown) => logger.error(error);
  nest.bindErrorHandler = (server) => {
    server.on('connection', (socket: ServerEvents) => socket.on('error', logError));
    server.on('error', logError);
    return server;
  };
  try {
    return adapter.create(0, options);
  } finally {
    delete nest.bindErrorHandler; // Nest's own again, from the prototype
  }
}

/**
 * Whether the application's WebSocket adapter is Nest's `WsAdapter` or a subclass of it.
 * Checked with `instanceof`, not by the constructor's name, which a subclass or a minifier changes.
 */
export async function isNestWsAdapter(adapter: unknown): Promise<boolean> {
  if (!adapter || typeof (adapter as Partial<WsAdapterLike>).create !== 'function') return false;
  const WsAdapter = await loadWsAdapterClass();
  return WsAdapter !== undefined && adapter instanceof WsAdapter;
}
