// Signing of the requests of backends: `POST /api/publish` (v1, over the body) and every call
// of the standalone server's backend API (v2, over method, path and body). Only node:crypto: a
// backend can import this file (`nest-bindings/publish`) without loading NestJS.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The request header that carries the signature. */
export const SIGNATURE_HEADER = 'x-bindings-signature';
/** How old a signature's timestamp may be, in seconds. */
export const SIGNATURE_TOLERANCE = 60;
/** How far ahead of the server's clock a signature's timestamp may be, in seconds. */
export const SIGNATURE_FUTURE = 5;

/**
 * The value of the `x-bindings-signature` header for a publish request whose body is
 * exactly `body`: `t=<unix seconds>,v1=<hex>`, where hex is HMAC-SHA256(secret, `<t>.<body>`).
 * Send the same bytes you signed. `now` is the signing time (a Date, or milliseconds since
 * the epoch as `Date.now()` gives; default: now).
 */
export function signPublish(secret: string, body: string | Uint8Array, now: number | Date = Date.now()): string {
  const t = Math.floor((typeof now === 'number' ? now : now.getTime()) / 1000);
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

/**
 * The value of the `x-bindings-signature` header for a call of the backend API (PROTOCOL.md
 * section 11): `t=<unix seconds>,v2=<hex>`, where hex is HMAC-SHA256(secret,
 * `<t>.<METHOD> <path>.<body>`) and `path` is the request's path without its query
 * (`/api/message`). Such a signature is good for that method and path only.
 */
export function signRequest(secret: string, method: string, path: string, body: string | Uint8Array, now: number | Date = Date.now()): string {
  const t = Math.floor((typeof now === 'number' ? now : now.getTime()) / 1000);
  return `t=${t},v2=${hmacHex(secret, t, body, v2Prefix(method, path))}`;
}

/** Why a signature was refused, or undefined when it is good. `v1` is a v1 signature where only v2 is accepted. */
export type SignatureProblem = 'missing' | 'malformed' | 'expired' | 'mismatch' | 'replayed' | 'v1';

/** The request a signature is checked against: its method, its path without the query, its raw body. */
export interface SignedRequest {
  method: string;
  path: string;
  body: Uint8Array;
}

/**
 * Checks a signature header against a request: well formed, timestamp within the window, and a
 * `v2` (over method, path and body) or, when `acceptV1`, a `v1` (over the body) that one of
 * `secrets` produces. Answers `key`, which names the signed request whatever secret signed it
 * (for the replay ledger). Several `v1=`/`v2=` entries may be sent (one per secret during a rotation).
 */
export function verifyRequestSignature(
  header: string | undefined,
  request: SignedRequest,
  secrets: readonly string[],
  acceptV1: boolean,
  now = Date.now(),
): { problem?: SignatureProblem; t?: number; key?: string } {
  if (!header) return { problem: 'missing' };
  const { t, v1, v2 } = parseHeader(header);
  if (t === undefined || (v1.length === 0 && v2.length === 0)) return { problem: 'malformed' };
  if (v2.length === 0 && !acceptV1) return { problem: 'v1' };
  if (now / 1000 - t > SIGNATURE_TOLERANCE || t - now / 1000 > SIGNATURE_FUTURE) return { problem: 'expired', t };
  const prefix = v2Prefix(request.method, request.path);
  for (const secret of secrets) {
    if (matches(hmacHex(secret, t, request.body, prefix), v2)) return { t, key: `v2:${hmacHex(secrets[0], t, request.body, prefix).slice(0, 32)}` };
    if (acceptV1 && matches(hmacHex(secret, t, request.body), v1)) return { t, key: signatureKey(secrets, t, request.body) };
  }
  return { problem: 'mismatch', t };
}

/**
 * Checks a signature header against the raw body: well formed, timestamp within
 * `SIGNATURE_TOLERANCE` seconds before `now` (ms) and at most `SIGNATURE_FUTURE` after it, and
 * a `v1` that one of `secrets` produces. (Whether it was accepted before is the server's
 * part: see `signatureKey`.)
 * Several `v1=` entries may be sent (one per secret during a rotation).
 */
export function verifyPublishSignature(
  header: string | undefined,
  body: Uint8Array,
  secrets: readonly string[],
  now = Date.now(),
): { problem?: SignatureProblem; t?: number; v1?: string } {
  if (!header) return { problem: 'missing' };
  const { t, v1: candidates } = parseHeader(header);
  if (t === undefined || candidates.length === 0) return { problem: 'malformed' };
  if (now / 1000 - t > SIGNATURE_TOLERANCE || t - now / 1000 > SIGNATURE_FUTURE) return { problem: 'expired', t };
  for (const secret of secrets) {
    const expected = Buffer.from(hmacHex(secret, t, body), 'hex');
    for (const candidate of candidates) {
      if (timingSafeEqual(expected, Buffer.from(candidate, 'hex'))) return { t, v1: candidate };
    }
  }
  return { problem: 'mismatch', t };
}

/**
 * What names one signed request, whichever secret (during a rotation) signed it: the HMAC of
 * `<t>.<body>` under the first secret, shortened (128 bits are plenty to tell requests apart).
 */
export function signatureKey(secrets: readonly string[], t: number, body: Uint8Array): string {
  return hmacHex(secrets[0], t, body).slice(0, 32);
}

/** `t`, and the well-formed `v1` and `v2` entries (lower-case hex) of a signature header. */
function parseHeader(header: string): { t?: number; v1: string[]; v2: string[] } {
  let t: number | undefined;
  const v1: string[] = [];
  const v2: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if ((key === 'v1' || key === 'v2') && /^[0-9a-f]{64}$/i.test(value)) (key === 'v1' ? v1 : v2).push(value.toLowerCase());
  }
  return { t, v1, v2 };
}

function matches(expectedHex: string, candidates: readonly string[]): boolean {
  const expected = Buffer.from(expectedHex, 'hex');
  return candidates.some((candidate) => timingSafeEqual(expected, Buffer.from(candidate, 'hex')));
}

/** What a v2 signature puts between `<t>.` and the body: `<METHOD> <path>.`. */
function v2Prefix(method: string, path: string): string {
  return `${method.toUpperCase()} ${path}.`;
}

function hmacHex(secret: string, t: number, body: string | Uint8Array, prefix = ''): string {
  return createHmac('sha256', secret).update(`${t}.${prefix}`).update(body).digest('hex');
}
