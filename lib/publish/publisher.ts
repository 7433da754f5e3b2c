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
import { readNonce, SignedRequests } from './signed-requests.js';

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
    private readonly signed: SignedRequests,
  ) {}

  /** Whether the exact bytes of this request's body are needed: a publish, when publishing is on. */
  takesRawBody(req: IncomingMessage): boolean {
    return this.options.publish !== undefined && this.options.restPrefix !== false && req.method === 'POST' && this.isPublishPath(req.url ?? '/');
  }

  /** Serves one publish request (a v1 or v2 signature); throws a BindingError (401 for any signature problem, nothing sent). */
  async publish(req: IncomingMessage): Promise<{ delivered: number }> {
    if (!this.options.publish) throw new BindingError('not_found', 'Publishing is not enabled: set the module option publish.secret');
    const request = await this.signed.verify(req, true, '{room|channel, event, data}');
    const room = readTarget(request.body);
    await request.claim();
    return { delivered: this.hub.broadcast(room.name, this.codec.message(room.event, room.data, room.name)) };
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
  // `nonce` only tells apart two identical requests signed within the same second (see SignedRequests).
  const unknown = Object.keys(body).filter((key) => !['room', 'channel', 'event', 'data', 'nonce'].includes(key));
  if (unknown.length)
    throw BindingError.badRequest(
      shape,
      unknown.map((field) => ({ field, constraint: 'whitelist', message: `${field} is not a member of a publish request` })),
    );
  readNonce(body.nonce);
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
