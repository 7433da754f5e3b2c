import { Inject, Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { SignatureLedger } from '../adapters/signature-ledger.js';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError } from '../protocol/binding-error.js';
import { RAW_BODY, readBody } from './raw-body.js';
import { SIGNATURE_FUTURE, SIGNATURE_HEADER, SIGNATURE_TOLERANCE, verifyRequestSignature, type SignatureProblem } from './sign.js';

const PROBLEMS: Record<SignatureProblem, string> = {
  missing: `The ${SIGNATURE_HEADER} header is missing`,
  malformed: `The ${SIGNATURE_HEADER} header must be t=<unix seconds>,v2=<hex HMAC-SHA256> (or v1= for POST /publish)`,
  expired: `The signature is more than ${SIGNATURE_TOLERANCE} seconds old or more than ${SIGNATURE_FUTURE} seconds ahead of the server's clock`,
  mismatch: 'The signature does not match the request',
  replayed: 'This signed request was already accepted once; sign each request anew',
  v1: 'This call needs a v2 signature, over "<t>.<METHOD> <path>.<raw body>"; v1 is accepted by POST /publish only',
};

/** A request whose signature is good, not yet recorded as used. */
export interface VerifiedRequest {
  /** The body, parsed as JSON. */
  body: unknown;
  /**
   * Records the signature as used; throws `unauthorized` when it already was (a replay).
   * Call it once the request is known to be well formed, just before acting on it, so that a
   * request refused for its content can be corrected and signed again.
   */
  claim(): Promise<void>;
}

/**
 * The signature check of backend requests (PROTOCOL.md sections 7 and 11): `POST /publish`
 * and the standalone server's backend API. Any signature problem is `unauthorized` (401)
 * and nothing is done; an accepted signature is recorded in the SignatureLedger (shared by
 * every instance with Redis) until it would be too old anyway, so it is accepted once.
 */
@Injectable()
export class SignedRequests {
  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly ledger: SignatureLedger,
  ) {}

  /** Checks the signature of `req` (`acceptV1`: also a v1 signature over the body alone) and parses its body. */
  async verify(req: IncomingMessage, acceptV1: boolean, shape: string): Promise<VerifiedRequest> {
    const secrets = this.options.publish?.secrets;
    if (!secrets) throw new BindingError('not_found', 'Signed calls are not enabled: set the module option publish.secret');
    const raw = await this.rawBody(req);
    const header = req.headers[SIGNATURE_HEADER];
    const signed = { method: req.method ?? 'GET', path: requestPath(req), body: raw };
    const { problem, t, key } = verifyRequestSignature(Array.isArray(header) ? header.join(',') : header, signed, secrets, acceptV1);
    if (problem) throw new BindingError('unauthorized', PROBLEMS[problem]);
    let body: unknown;
    try {
      body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
    } catch {
      throw BindingError.badRequest(`The body must be JSON: ${shape}`);
    }
    return {
      body,
      claim: async () => {
        let first: boolean;
        try {
          // Kept until the signature would be refused as too old anyway (1 s more for the rounding of `t`).
          first = await this.ledger.claim(key!, (t! + SIGNATURE_TOLERANCE + 1) * 1000);
        } catch {
          throw new BindingError('internal', 'Replays cannot be checked right now (the shared store does not answer); nothing was done');
        }
        if (!first) throw new BindingError('unauthorized', PROBLEMS.replayed);
      },
    };
  }

  private async rawBody(req: IncomingMessage): Promise<Buffer> {
    const captured = (req as any)[RAW_BODY];
    if (Buffer.isBuffer(captured)) return captured;
    const nestRaw = (req as any).rawBody; // NestFactory.create(AppModule, { rawBody: true })
    if (Buffer.isBuffer(nestRaw)) return nestRaw;
    // No body parser read it (bodyParser: false, a content type it does not parse, or no body at all).
    if (!req.readableEnded && !req.complete) {
      try {
        return await readBody(req, this.options.limits.maxPayload);
      } catch (error) {
        throw (error as { status?: number }).status === 413
          ? new BindingError('too_large', 'The body is too large')
          : BindingError.badRequest('The body could not be read');
      }
    }
    if (req.headers['content-length'] === '0' || (req.headers['content-length'] === undefined && !req.headers['transfer-encoding'])) return Buffer.alloc(0);
    throw new BindingError('internal', 'The raw body of the signed request is not available; create the application with { rawBody: true }');
  }
}

/** The path of the request as the client sent it, without the query: what a v2 signature covers. */
export function requestPath(req: IncomingMessage): string {
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  const end = url.indexOf('?');
  return end === -1 ? url : url.slice(0, end);
}

/**
 * The optional `nonce` member of a signed body: a signature names its second and its bytes,
 * so two identical calls within one second are one request and the second is a replay. A
 * backend that may repeat a call (two `info` in a row) adds a random nonce to tell them apart.
 */
export function readNonce(nonce: unknown): void {
  if (nonce !== undefined && !(typeof nonce === 'string' && nonce.length > 0 && nonce.length <= 100)) {
    throw BindingError.badRequest('nonce must be a string of 1 to 100 characters', [
      { field: 'nonce', constraint: 'isString', message: 'nonce must be a string of 1 to 100 characters' },
    ]);
  }
}
