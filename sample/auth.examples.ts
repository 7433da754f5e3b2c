import type { IncomingMessage } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Three ways to turn a request into a user with the module option `authenticate(req)`.
 * It runs on the WebSocket upgrade and on every REST request; return null for anonymous.
 * The tests (test/e2e/auth-examples.e2e-spec.ts) use these very functions.
 */
export interface SampleUser {
  id: number;
  name: string;
}

/** Signs `userId` into a token `<id>.<hex hmac>`: a stand-in for a JWT library. */
export function signToken(secret: string, user: SampleUser): string {
  const payload = Buffer.from(JSON.stringify(user)).toString('base64url');
  return `${payload}.${createHmac('sha256', secret).update(payload).digest('base64url')}`;
}

function verifyToken(secret: string, token: string | undefined): SampleUser | null {
  const [payload, signature] = (token ?? '').split('.');
  if (!payload || !signature) return null;
  const expected = createHmac('sha256', secret).update(payload).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return JSON.parse(Buffer.from(payload, 'base64url').toString()) as SampleUser;
}

/** `Authorization: Bearer <token>` (browsers cannot set headers on a WebSocket: use a cookie or the query there). */
export const bearerAuth = (secret: string) => (req: IncomingMessage) => verifyToken(secret, /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]);

/** A session cookie `sid=<id>` looked up in the application's session store. */
export const cookieAuth = (sessions: ReadonlyMap<string, SampleUser>) => (req: IncomingMessage) => {
  const sid = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  return (sid && sessions.get(decodeURIComponent(sid))) || null;
};

/** `?token=<token>` on the URL, e.g. `new WebSocket('wss://host/ws?token=…')` from a browser. */
export const queryTokenAuth = (secret: string) => (req: IncomingMessage) =>
  verifyToken(secret, new URL(req.url ?? '/', 'http://localhost').searchParams.get('token') ?? undefined);
