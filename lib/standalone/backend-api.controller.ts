import { Controller, Delete, Get, Header, HttpCode, Logger, Patch, Post, Req, Res } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { PresenceStore } from '../adapters/presence-store.js';
import { ChannelActions } from '../channels/channel-actions.js';
import { CHANNEL_ROOM_PREFIX, isChannelName } from '../channels/channel-names.js';
import { BindingError, type ErrorDetail } from '../protocol/binding-error.js';
import { isPlainObject } from '../protocol/plain-object.js';
import { readNonce, SignedRequests } from '../publish/signed-requests.js';
import { RoomHub } from '../rooms/room-hub.js';
import { httpFailure } from '../transports/http/http-failure.js';
import { nodeRequest } from '../transports/http/platform.js';
import { ChannelRules } from './channel-rules.js';
import { EventStreams } from './event-streams.js';
import { StandaloneUsers } from './standalone-users.js';

const JSON_TYPE = 'application/json; charset=utf-8';
/** Channels one call may name. */
const MAX_CHANNELS = 1000;
const logger = new Logger('BindingsStandalone');

type Input = Record<string, unknown>;

/**
 * The backend API of the standalone server (PROTOCOL.md section 11). Every call is signed
 * with `v2` over its method, path and body and accepted once (SignedRequests); its body is
 * checked before the signature is recorded as used, so a refused call can be corrected and
 * signed again. `POST /api/publish` is the bindings' own (it takes v1 too).
 */
@Controller('api')
export class BackendApiController {
  constructor(
    private readonly signed: SignedRequests,
    private readonly users: StandaloneUsers,
    private readonly channels: ChannelActions,
    private readonly presence: PresenceStore,
    private readonly hub: RoomHub,
    private readonly rules: ChannelRules,
    private readonly streams: EventStreams,
  ) {}

  /** The user's connections, on every instance, join `channels` (and may join them again later). */
  @Post('subscribe')
  @Header('Content-Type', JSON_TYPE)
  @HttpCode(200)
  subscribe(@Req() req: unknown) {
    return this.membership(req, 'subscribe');
  }

  /** The user's connections leave `channels`, and may not join them again unless a channel is open to anyone. */
  @Post('unsubscribe')
  @Header('Content-Type', JSON_TYPE)
  @HttpCode(200)
  unsubscribe(@Req() req: unknown) {
    return this.membership(req, 'unsubscribe');
  }

  /** The user's presence state in every channel it is in; members get `channel.state`. */
  @Post('user_state')
  @Header('Content-Type', JSON_TYPE)
  @HttpCode(200)
  userState(@Req() req: unknown) {
    return this.call(req, '{user, state}', ['user', 'state'], [], async (input) => {
      const user = readUser(input.user);
      const state = this.channels.readJson(input.state, 'state');
      return async () => {
        await this.users.send({ kind: 'state', user, state, id: randomUUID() });
        return { user, state };
      };
    });
  }

  /** Posts a message in a channel (as `user`, or as nobody); members get `channel.message`. */
  @Post('message')
  @Header('Content-Type', JSON_TYPE)
  @HttpCode(200)
  post(@Req() req: unknown) {
    return this.call(req, '{channel, message, user?}', ['channel', 'message'], ['user'], async (input) => {
      const channel = readChannel(input.channel);
      const message = this.channels.readMessage(input.message);
      const user = input.user === undefined || input.user === null ? null : readUser(input.user);
      return () => this.channels.post(channel, user, message);
    });
  }

  /** Replaces the text of a message kept in the channel's history; members get `channel.message:edit`. */
  @Patch('message')
  @Header('Content-Type', JSON_TYPE)
  edit(@Req() req: unknown) {
    return this.call(req, '{channel, id, message}', ['channel', 'id', 'message'], [], async (input) => {
      const channel = readChannel(input.channel);
      const id = readId(input.id);
      const message = this.channels.readMessage(input.message);
      return () => this.channels.change(channel, id, message);
    });
  }

  /** Deletes a message kept in the channel's history; members get `channel.message:delete`. */
  @Delete('message')
  @Header('Content-Type', JSON_TYPE)
  remove(@Req() req: unknown) {
    return this.call(req, '{channel, id}', ['channel', 'id'], [], async (input) => {
      const channel = readChannel(input.channel);
      const id = readId(input.id);
      return () => this.channels.erase(channel, id);
    });
  }

  /** Sets a channel's `history` and `presence` (over the configuration's), on every instance. */
  @Post('channel_config')
  @Header('Content-Type', JSON_TYPE)
  @HttpCode(200)
  channelConfig(@Req() req: unknown) {
    return this.call(req, '{channel, history?, presence?}', ['channel'], ['history', 'presence'], async (input) => {
      const channel = readChannel(input.channel);
      const config: { history?: number; presence?: boolean } = {};
      if (input.history !== undefined) {
        if (!(Number.isSafeInteger(input.history) && (input.history as number) >= 0))
          throw invalid('history', 'min', 'history must be an integer of 0 or more');
        config.history = input.history as number;
      }
      if (input.presence !== undefined) {
        if (typeof input.presence !== 'boolean') throw invalid('presence', 'isBoolean', 'presence must be true or false');
        config.presence = input.presence;
      }
      if (!this.rules.hasRoomFor(channel))
        throw BindingError.badRequest('Too many channels are configured at run time (10,000); configure channels by pattern in the configuration instead');
      return async () => {
        await this.users.send({ kind: 'config', channel, config });
        return { channel, config: this.channels.config(channel) };
      };
    });
  }

  /**
   * Members (with their states) and settings of `channels`; without `channels`, of the channels
   * with members on this instance (with several instances, name the channels).
   */
  @Post('info')
  @Header('Content-Type', JSON_TYPE)
  @HttpCode(200)
  info(@Req() req: unknown) {
    return this.call(req, '{channels?}', [], ['channels'], async (input) => {
      const names =
        input.channels === undefined
          ? this.hub
              .occupied()
              .filter(({ room }) => room.startsWith(CHANNEL_ROOM_PREFIX))
              .map(({ room }) => room.slice(CHANNEL_ROOM_PREFIX.length))
          : readChannels(input.channels);
      return async () => ({
        channels: await Promise.all(
          names.map(async (channel) => {
            const config = this.channels.config(channel);
            return { channel, users: config.presence ? await this.presence.list(channel) : [], config };
          }),
        ),
      });
    });
  }

  /** Closes every connection of the user, on every instance (WebSockets with close code 4001). */
  @Post('disconnect')
  @Header('Content-Type', JSON_TYPE)
  @HttpCode(200)
  disconnect(@Req() req: unknown) {
    return this.call(req, '{user}', ['user'], [], async (input) => {
      const user = readUser(input.user);
      return async () => {
        await this.users.send({ kind: 'disconnect', user });
        return { user };
      };
    });
  }

  /** Server-Sent Events of a user's channels (`?token=`); see EventStreams. */
  @Get('events')
  events(@Req() req: unknown, @Res() res: unknown) {
    return this.streams.open(nodeRequest(req), res);
  }

  /** `subscribe` and `unsubscribe`: one command to the user's connections on every instance. */
  private membership(req: unknown, kind: 'subscribe' | 'unsubscribe') {
    return this.call(req, '{user, channels}', ['user', 'channels'], [], async (input) => {
      const command = { kind, user: readUser(input.user), channels: readChannels(input.channels) };
      return async () => {
        await this.users.send(command);
        return { user: command.user, channels: command.channels };
      };
    });
  }

  /**
   * One call: the signature (v2 only), the body's members (`required` and `optional`, no
   * others), `read` checks them and answers the work to do; the signature is recorded as
   * used just before the work runs.
   */
  private async call<T>(req: unknown, shape: string, required: string[], optional: string[], read: (input: Input) => Promise<() => Promise<T>>): Promise<T> {
    try {
      const request = await this.signed.verify(nodeRequest(req) as IncomingMessage, false, shape);
      const body = request.body ?? {};
      if (!isPlainObject(body)) throw BindingError.badRequest(`The body must be a JSON object ${shape}`);
      readNonce(body.nonce);
      const unknown = Object.keys(body).filter((key) => key !== 'nonce' && !required.includes(key) && !optional.includes(key));
      const missing = required.filter((key) => !(key in body));
      if (unknown.length || missing.length) {
        throw BindingError.badRequest(`The body must be ${shape}`, [
          ...missing.map((field) => ({ field, constraint: 'isDefined', message: `${field} is required` })),
          ...unknown.map((field) => ({ field, constraint: 'whitelist', message: `${field} is not a member of this call` })),
        ]);
      }
      const work = await read(body);
      await request.claim();
      return await work();
    } catch (error) {
      if (!(error instanceof BindingError)) logger.error(`A backend call failed: ${(error as Error)?.stack ?? error}`);
      throw httpFailure(error);
    }
  }
}

function invalid(field: string, constraint: string, message: string): BindingError {
  const detail: ErrorDetail = { field, constraint, message };
  return BindingError.badRequest(message, [detail]);
}

function readUser(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 200)
    throw invalid('user', 'isString', 'user must be a user name of 1 to 200 characters');
  return value;
}

function readChannel(value: unknown): string {
  if (!isChannelName(value)) throw invalid('channel', 'isChannel', 'channel must be a string of 1 to 200 characters without control characters');
  return value;
}

function readChannels(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_CHANNELS || !value.every(isChannelName)) {
    throw invalid('channels', 'isChannelList', `channels must be a list of 1 to ${MAX_CHANNELS} channel names`);
  }
  return [...new Set(value as string[])];
}

function readId(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 100) throw invalid('id', 'isString', 'id must be the id of a message');
  return value;
}
