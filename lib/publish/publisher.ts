import { Inject, Injectable } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { channelRoom, isChannelName } from '../channels/channel-names.js';
import { BindingError } from '../protocol/binding-error.js';
import { FrameCodec } from '../protocol/frame-codec.js';
import { isPlainObject } from '../protocol/plain-object.js';
import { RoomHub } from '../rooms/room-hub.js';
import { RAW_BODY, readBody } from './raw-body.js';
import { SIGNATURE_FUTURE, SIGNATURE_HEADER, SIGNATURE_TOLERANCE, signatureKey, verifyPublishSignature, type SignatureProblem } from './sign.js';
import { SignatureLedger } from '../adapters/signature-ledger.js';

const PROBLEMS: Record<SignatureProblem, string> = {
  missing: `The ${SIGNATURE_HEADER} header is missing`,
  malformed: `The ${SIGNATURE_HEADER} header must be t=<unix seconds>,v1=<hex HMAC-SHA256>`,
  expired: `The signature is more than ${SIGNATURE_TOLERANCE} seconds old or more than ${SIGNATURE_FUTURE} seconds ahead of the server's clock`,
  mismatch: 'The signature does not match the body',
  replayed: 'This signed request was already accepted once; sign each request anew',
};

/**
 * `POST <restPrefix>/publish` (PROTOCOL.md section 7): a backend sends `{room|channel,
 * event, data}` signed with the shared secret, and every socket in the room gets
 * `{event, room, data}`. The signature covers the raw bytes of the body, which the HTTP
 * transport captures before the platform's JSON parser runs, for the requests `takesRawBody`
 * names (see transports/http/platform.ts).
 */
@Injectable()
export class Publisher {
  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly appConfig: ApplicationConfig,
    private readonly hub: RoomHub,
    private readonly codec: FrameCodec,
    private readonly ledger: SignatureLedger,
  ) {}

  /** Whether the exact bytes of this request's body are needed: a publish, when publishing is on. */
  takesRawBody(req: IncomingMessage): boolean {
    return this.options.publish !== undefined && this.options.restPrefix !== false && req.method === 'POST' && this.isPublishPath(req.url ?? '/');
  }

  /** Serves one publish request; throws a BindingError (401 for any signature problem, nothing sent). */
  async publish(req: IncomingMessage): Promise<{ delivered: number }> {
    const secrets = this.options.publish?.secrets;
    if (!secrets) throw new BindingError('not_found', 'Publishing is not enabled: set the module option publish.secret');
    const raw = await this.rawBody(req);
    const header = req.headers[SIGNATURE_HEADER];
    const { problem, t } = verifyPublishSignature(Array.isArray(header) ? header.join(',') : header, raw, secrets);
    if (problem) throw new BindingError('unauthorized', PROBLEMS[problem]);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw BindingError.badRequest('The body must be JSON: {room|channel, event, data}');
    }
    const room = readTarget(body);
    // Claimed last, so a request refused above can be corrected and signed again; kept until
    // the signature would be refused as too old anyway (1 s more for the rounding of `t`).
    let first: boolean;
    try {
      first = await this.ledger.claim(signatureKey(secrets, t!, raw), (t! + SIGNATURE_TOLERANCE + 1) * 1000);
    } catch {
      throw new BindingError('internal', 'Replays cannot be checked right now (the shared store does not answer); nothing was sent');
    }
    if (!first) throw new BindingError('unauthorized', PROBLEMS.replayed);
    return { delivered: this.hub.broadcast(room.name, this.codec.message(room.event, room.data, room.name)) };
  }

  private async rawBody(req: IncomingMessage): Promise<Buffer> {
    const captured = (req as any)[RAW_BODY];
    if (Buffer.isBuffer(captured)) return captured;
    const nestRaw = (req as any).rawBody; // NestFactory.create(AppModule, { rawBody: true })
    if (Buffer.isBuffer(nestRaw)) return nestRaw;
    // No body parser read it (bodyParser: false, or a content type it does not parse).
    if (!req.readableEnded && !req.complete) {
      try {
        return await readBody(req, this.options.limits.maxPayload);
      } catch (error) {
        throw (error as { status?: number }).status === 413
          ? new BindingError('too_large', 'The body is too large')
          : BindingError.badRequest('The body could not be read');
      }
    }
    throw new BindingError('internal', 'The raw body of the publish request is not available; create the application with { rawBody: true }');
  }

  /** `/<global prefix>/<restPrefix>/publish`, compared as express routes are: without case, trailing slash allowed. */
  private isPublishPath(url: string): boolean {
    const end = url.indexOf('?');
    const path = (end === -1 ? url : url.slice(0, end)).replace(/\/+$/, '').toLowerCase();
    const parts = [this.appConfig.getGlobalPrefix(), this.options.restPrefix as string, 'publish'].map((p) => p.replace(/^\/+|\/+$/g, '')).filter(Boolean);
    return path === `/${parts.join('/')}`.toLowerCase();
  }
}

/** `{room, event, data}` or `{channel, event, data}`: the room to send to and the message. */
function readTarget(body: unknown): { name: string; event: string; data: unknown } {
  const shape = 'The body must be {"room" or "channel": string, "event": string, "data": any}';
  if (!isPlainObject(body)) throw BindingError.badRequest(shape);
  const unknown = Object.keys(body).filter((key) => !['room', 'channel', 'event', 'data'].includes(key));
  if (unknown.length)
    throw BindingError.badRequest(
      shape,
      unknown.map((field) => ({ field, constraint: 'whitelist', message: `${field} is not a member of a publish request` })),
    );
  if ((body.room === undefined) === (body.channel === undefined))
    throw BindingError.badRequest('Give either room or channel', [{ field: 'room', constraint: 'oneOf', message: 'give exactly one of room and channel' }]);
  if (body.room !== undefined && !(typeof body.room === 'string' && body.room.length > 0 && body.room.length <= 1000)) {
    throw BindingError.badRequest('room must be a room name', [{ field: 'room', constraint: 'isString', message: 'room must be a non-empty string' }]);
  }
  if (body.channel !== undefined && !isChannelName(body.channel)) {
    throw BindingError.badRequest('channel must be a channel name', [
      { field: 'channel', constraint: 'isChannel', message: 'channel must be a string of 1 to 200 characters' },
    ]);
  }
  if (!(typeof body.event === 'string' && body.event.length > 0 && body.event.length <= 200)) {
    throw BindingError.badRequest('event must be a string of 1 to 200 characters', [
      { field: 'event', constraint: 'isString', message: 'event must be a string of 1 to 200 characters' },
    ]);
  }
  const name = body.channel !== undefined ? channelRoom(body.channel as string) : (body.room as string);
  return { name, event: body.event, data: body.data ?? null };
}
