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

/**
 * Whether the application's WebSocket adapter is Nest's `WsAdapter` or a subclass of it.
 * Checked with `instanceof`, not by the constructor's name, which a subclass or a minifier changes.
 */
export async function isNestWsAdapter(adapter: unknown): Promise<boolean> {
  if (!adapter || typeof (adapter as Partial<WsAdapterLike>).create !== 'function') return false;
  const WsAdapter = await loadWsAdapterClass();
  return WsAdapter !== undefined && adapter instanceof WsAdapter;
}
