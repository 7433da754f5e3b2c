// Signing of `POST /api/publish` requests. Only node:crypto: a backend can import this file
// (`nest-bindings/publish`) without loading NestJS.
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

/** Why a signature was refused, or undefined when it is good. */
export type SignatureProblem = 'missing' | 'malformed' | 'expired' | 'mismatch' | 'replayed';

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
  let t: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) candidates.push(value.toLowerCase());
  }
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

function hmacHex(secret: string, t: number, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');
}
