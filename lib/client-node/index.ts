// The Node entry of nest-bindings/client: the same client, with the `ws` package as its
// WebSocket wherever the runtime has no global one (Node 20), so `connect(url)` needs no
// arguments there. Browsers and bundlers resolve the plain entry (lib/client/index.ts) instead.
import { WebSocket as NodeWebSocket } from 'ws';
import { BindingClient, type ConnectOptions } from '../client/client.js';
import type { WebSocketConstructor } from '../client/types.js';

export * from '../client/index.js';

/** Connects to a nest-bindings server; `options.WebSocket` still overrides the default. */
export function connect(url: string, options: ConnectOptions = {}): BindingClient {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  return new BindingClient(url, { ...options, WebSocket: options.WebSocket ?? global ?? (NodeWebSocket as unknown as WebSocketConstructor) });
}
