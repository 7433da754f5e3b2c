import type { IncomingMessage } from 'node:http';
import { BindingError } from '../protocol/binding-error.js';

/**
 * The module option `origins`: a browser always sends the `Origin` of the page on a WebSocket
 * upgrade (and on a cross-origin event stream), so a page of another site cannot open one
 * with the user's cookies or a token it got hold of. Requests without the header come from
 * servers and tools, which can send any header anyway: they are left to `authenticate`.
 */
export function checkOrigin(req: IncomingMessage, origins: ReadonlySet<string> | undefined): void {
  if (!origins) return;
  const origin = req.headers.origin;
  if (origin === undefined) return;
  if (!origins.has(origin.toLowerCase())) throw new BindingError('forbidden', 'This origin may not connect (module option origins)');
}
