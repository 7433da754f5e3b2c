import type { IncomingMessage } from 'node:http';
import { BindingError } from '../protocol/binding-error.js';
import { verifyToken, type TokenProblem } from './token.js';

/** A user of the standalone server, made from its connect token (one object per connection). */
export interface StandaloneUser {
  /** The name the token gives (`identify` answers it). */
  id: string;
  /** The presence state the user has when it joins a channel: the token's, then the backend's `user_state`. */
  state: unknown;
  /** Channels this connection may join: those the token names, plus the backend's `subscribe`, minus its `unsubscribe`. */
  channels: Set<string>;
  /** Whether the user may open `/admin` (the configuration's `admin.users`). */
  admin: boolean;
}

const PROBLEMS: Record<TokenProblem, string> = {
  missing: 'A token is required: connect to /ws?token=<token> (or send Authorization: Bearer <token>)',
  malformed: 'The token is malformed: expected <base64url of {user, exp, channels?, state?}>.<hex HMAC-SHA256>',
  forged: 'The token is not signed with the server secret',
  expired: 'The token has expired',
};

/**
 * The `authenticate` hook of the standalone server: the token from `?token=` or a bearer
 * header, verified with the secrets. A refused token throws `unauthorized` with its reason,
 * so the upgrade and the event stream answer 401.
 */
export function tokenAuthenticator(secrets: readonly string[], admins: readonly string[]): (req: IncomingMessage) => StandaloneUser {
  const adminSet = new Set(admins);
  return (req) => {
    const { payload, problem } = verifyToken(tokenOf(req), secrets);
    if (problem) throw new BindingError('unauthorized', PROBLEMS[problem]);
    return { id: payload!.user, state: payload!.state ?? null, channels: new Set(payload!.channels ?? []), admin: adminSet.has(payload!.user) };
  };
}

/** The token of a request: `?token=` first, else `Authorization: Bearer <token>`. */
export function tokenOf(req: IncomingMessage): string | undefined {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  if (query !== -1) {
    const token = new URLSearchParams(url.slice(query + 1)).get('token');
    if (token) return token;
  }
  const header = req.headers.authorization;
  const bearer = header && /^Bearer\s+(\S+)$/i.exec(header);
  return bearer ? bearer[1] : undefined;
}
