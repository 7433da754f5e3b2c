// Connect tokens of the standalone server (PROTOCOL.md section 11). Only node:crypto: a Node
// backend imports this through `nest-bindings/backend` without loading NestJS.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a connect token says: who the user is, until when, which channels it may join, its initial presence state. */
export interface TokenPayload {
  /** The user's name, as presence lists and the backend API name it. */
  user: string;
  /** Unix seconds after which the token is refused. */
  exp: number;
  /** Channels (exact names) the user may join. */
  channels?: string[];
  /** The user's presence state when it joins a channel, until it sets another. */
  state?: unknown;
}

/** Why a token was refused. */
export type TokenProblem = 'missing' | 'malformed' | 'forged' | 'expired';

/** Longest token accepted, in characters (it travels in a URL). */
export const TOKEN_MAX_LENGTH = 8192;

/**
 * A connect token: `<payload>.<mac>`, where payload is the base64url text (no padding) of
 * the JSON of `payload` and mac the hex HMAC-SHA256 of that base64url text with `secret`.
 * `exp` may be given as `expiresIn` seconds from now instead.
 */
export function signToken(secret: string, payload: Omit<TokenPayload, 'exp'> & ({ exp: number } | { expiresIn: number })): string {
  const { expiresIn, ...rest } = payload as TokenPayload & { expiresIn?: number };
  const body = expiresIn === undefined ? rest : { ...rest, exp: Math.floor(Date.now() / 1000) + expiresIn };
  const text = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
  return `${text}.${mac(secret, text)}`;
}

/**
 * Checks a token against the secrets (several during a rotation) and the clock (`now`, ms):
 * answers its payload, or the problem. A payload whose members are not of the documented
 * types is `malformed`, as is anything that is not `<base64url>.<64 hex digits>`.
 */
export function verifyToken(
  token: string | undefined | null,
  secrets: readonly string[],
  now = Date.now(),
): { payload?: TokenPayload; problem?: TokenProblem } {
  if (!token) return { problem: 'missing' };
  if (token.length > TOKEN_MAX_LENGTH) return { problem: 'malformed' };
  const dot = token.lastIndexOf('.');
  const text = token.slice(0, dot);
  const hex = token.slice(dot + 1);
  if (dot <= 0 || !/^[A-Za-z0-9_-]+$/.test(text) || !/^[0-9a-fA-F]{64}$/.test(hex)) return { problem: 'malformed' };
  const given = Buffer.from(hex, 'hex');
  if (!secrets.some((secret) => timingSafeEqual(Buffer.from(mac(secret, text), 'hex'), given))) return { problem: 'forged' };
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return { problem: 'malformed' };
  }
  if (!isPayload(payload)) return { problem: 'malformed' };
  if (payload.exp * 1000 <= now) return { problem: 'expired' };
  return { payload };
}

function isPayload(value: unknown): value is TokenPayload {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { user, exp, channels } = value as Record<string, unknown>;
  return (
    typeof user === 'string' &&
    user.length > 0 &&
    user.length <= 200 &&
    typeof exp === 'number' &&
    Number.isFinite(exp) &&
    (channels === undefined || (Array.isArray(channels) && channels.every((c) => typeof c === 'string' && c.length > 0 && c.length <= 200)))
  );
}

function mac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}
