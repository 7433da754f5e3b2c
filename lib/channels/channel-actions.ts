import { applyDecorators, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import type { ActionContext } from '../rooms/action-context.js';
import { AccessPolicy } from '../auth/access-policy.js';
import { BINDINGS_OPTIONS, ON_STREAM_METADATA, STREAM_SUBSCRIBER_METADATA } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import type { ChannelConfig } from '../interfaces/bindings-module-options.interface.js';
import { BindingError } from '../protocol/binding-error.js';
import { FrameCodec } from '../protocol/frame-codec.js';
import { approximateSize } from '../rooms/memory-budget.js';
import { RoomHub } from '../rooms/room-hub.js';
import type { Subscriber } from '../rooms/subscriber.js';
import { ChannelMessageStore, type ChannelMessageData } from './channel-message-store.js';
import { channelRoom, readChannelInput } from './channel-names.js';
import { PresenceStore } from '../adapters/presence-store.js';

/**
 * Serves a `channel.*` event, found by the same explorer as the application's `@OnStream`
 * handlers; the handler gets the socket's subscriptions (to join rooms) besides the public context.
 */
const ChannelEvent = (name: string): MethodDecorator => applyDecorators(SetMetadata(ON_STREAM_METADATA, name), SetMetadata(STREAM_SUBSCRIBER_METADATA, true));

/** The settings in force for one channel. */
export type ResolvedChannelConfig = Required<ChannelConfig>;

/**
 * The `channel.*` events (PROTOCOL.md section 7), served by the dispatcher like any other
 * event, so they work over the WebSocket and through `POST /api/events`. A channel's
 * members are the sockets in the room `channel:<name>`; presence is counted per user
 * (named by `identify`) in a PresenceStore, history kept in a ChannelMessageStore.
 */
@Injectable()
export class ChannelActions {
  /** Channels each socket joined, and whether it counted in their presence. */
  private readonly joined = new WeakMap<Subscriber, Map<string, boolean>>();
  /** Sockets that closed: a join still in progress for one of them is undone. */
  private readonly closed = new WeakSet<Subscriber>();
  /** Names of sockets in the presence store, unique across processes. */
  private readonly socketKeys = new WeakMap<Subscriber, string>();
  private readonly instanceId = randomBytes(4).toString('hex');
  private sockets = 0;
  /** Bytes of presence state charged per channel and user (`channel\0user`), released when the user parts. */
  private readonly stateBytes = new Map<string, number>();

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly hub: RoomHub,
    private readonly codec: FrameCodec,
    private readonly policy: AccessPolicy,
    private readonly presence: PresenceStore,
    private readonly messages: ChannelMessageStore,
  ) {
    hub.onClose((subscriber) => this.disconnected(subscriber));
    presence.changed = (channel, user, action) => this.broadcast(channel, 'channel.presence', { channel, user, action });
  }

  /** The settings of `channel`: the module's `channels` defaults, overridden by `configure(channel)`. */
  config(channel: string): ResolvedChannelConfig {
    const defaults = this.options.channels;
    const own = defaults.configure?.(channel) ?? {};
    const history = own.history ?? defaults.history;
    return {
      history: Number.isSafeInteger(history) && history > 0 ? history : 0,
      presence: own.presence ?? defaults.presence,
    };
  }

  @ChannelEvent('channel.join')
  async join(data: unknown, ctx: ActionContext): Promise<{ channel: string }> {
    const subscriber = requireSocket(ctx, 'channel.join');
    const { channel } = readChannelInput(data, 'channel.join', []);
    await this.mayJoin(ctx.user, channel);
    await this.enter(subscriber, channel);
    return { channel };
  }

  @ChannelEvent('channel.leave')
  async leave(data: unknown, ctx: ActionContext): Promise<{ channel: string }> {
    const subscriber = requireSocket(ctx, 'channel.leave');
    const { channel } = readChannelInput(data, 'channel.leave', []);
    await this.exit(subscriber, channel);
    return { channel };
  }

  /**
   * Puts a socket (or an event stream) in `channel`, without asking `can.join`: the server's
   * own decision (the standalone server's `POST /api/subscribe`), or after `channel.join` asked.
   * The user's first socket there announces it, with its initial state (`channels.initialState`).
   */
  async enter(subscriber: Subscriber, channel: string): Promise<void> {
    if (this.closed.has(subscriber) || subscriber.gone) return;
    await this.hub.subscribe(subscriber, { name: channelRoom(channel), kind: 'custom' }, { explicit: true });
    let channels = this.joined.get(subscriber);
    if (!channels) this.joined.set(subscriber, (channels = new Map()));
    if (channels.has(channel)) return;
    const user = this.policy.identify(subscriber.user);
    const counted = user !== undefined && this.config(channel).presence;
    channels.set(channel, counted);
    if (!counted) return;
    const first = await this.presence.add(channel, user, this.socketKey(subscriber));
    // The socket closed while the store answered: its departure already ran, undo the arrival.
    if (this.closed.has(subscriber) || !channels.has(channel)) {
      await this.part(channel, user, subscriber);
      return;
    }
    if (!first) return;
    await this.storeInitialState(channel, user, subscriber.user);
    this.broadcast(channel, 'channel.presence', { channel, user, action: 'joined' });
  }

  /**
   * The state `channels.initialState` gives a user who just joined. A state the bounds refuse
   * (too long, over the user's presence bytes) or a hook that throws leaves it null: the join
   * itself has happened and stands.
   */
  private async storeInitialState(channel: string, user: string, who: unknown): Promise<void> {
    const hook = this.options.channels.initialState;
    if (!hook) return;
    try {
      const initial = hook(who, channel);
      if (initial !== undefined && initial !== null) await this.storeState(channel, user, this.readJson(initial, 'state'));
    } catch {
      // see above
    }
  }

  /** Takes a socket out of `channel`; the user's last socket there announces its departure. */
  async exit(subscriber: Subscriber, channel: string): Promise<void> {
    const channels = this.joined.get(subscriber);
    const counted = channels?.get(channel);
    channels?.delete(channel);
    this.hub.unsubscribe(subscriber, channelRoom(channel));
    if (counted) await this.part(channel, this.policy.identify(subscriber.user)!, subscriber);
  }

  /** The channels `subscriber` is in where it counts in presence. */
  presentIn(subscriber: Subscriber): string[] {
    return [...(this.joined.get(subscriber) ?? [])].filter(([, counted]) => counted).map(([channel]) => channel);
  }

  @ChannelEvent('channel.message')
  async message(data: unknown, ctx: ActionContext): Promise<ChannelMessageData> {
    const input = readChannelInput(data, 'channel.message', ['message']);
    const { channel } = input;
    const text = this.readMessage(input.message);
    await this.mayWrite(ctx.user, channel, text);
    return this.post(channel, this.policy.identify(ctx.user) ?? null, text);
  }

  @ChannelEvent('channel.edit')
  async edit(data: unknown, ctx: ActionContext): Promise<ChannelMessageData> {
    const input = readChannelInput(data, 'channel.edit', ['id', 'message']);
    const { channel } = input;
    const id = readId(input.id);
    const text = this.readMessage(input.message);
    await this.mayWrite(ctx.user, channel, text);
    await this.ownMessage(channel, id, ctx.user);
    return this.change(channel, id, text);
  }

  @ChannelEvent('channel.delete')
  async remove(data: unknown, ctx: ActionContext): Promise<ChannelMessageData> {
    const input = readChannelInput(data, 'channel.delete', ['id']);
    const { channel } = input;
    const id = readId(input.id);
    // Refused members learn nothing, not even whether the id exists.
    await this.mayJoin(ctx.user, channel);
    const current = await this.ownMessage(channel, id, ctx.user);
    await this.mayPost(ctx.user, channel, current.message);
    return this.erase(channel, id);
  }

  /** Messages posted since start (for the admin page's rates). */
  posted = 0;

  /** Posts `text` as `user` (null: nobody) without asking `can`; members get `channel.message`. */
  async post(channel: string, user: string | null, text: unknown): Promise<ChannelMessageData> {
    const message: ChannelMessageData = { channel, id: randomUUID(), user, message: text, date: new Date().toISOString() };
    await this.messages.append(message, this.config(channel).history);
    this.posted++;
    this.broadcast(channel, 'channel.message', message);
    return message;
  }

  /** Replaces the text of a kept message, whoever wrote it; members get `channel.message:edit`. */
  async change(channel: string, id: string, text: unknown): Promise<ChannelMessageData> {
    const edited = await this.messages.edit(channel, id, text);
    if (!edited) throw messageNotFound(channel, id);
    this.broadcast(channel, 'channel.message:edit', edited);
    return edited;
  }

  /** Deletes a kept message, whoever wrote it; members get `channel.message:delete`. */
  async erase(channel: string, id: string): Promise<ChannelMessageData> {
    const deleted = await this.messages.delete(channel, id);
    if (!deleted) throw messageNotFound(channel, id);
    this.broadcast(channel, 'channel.message:delete', deleted);
    return deleted;
  }

  @ChannelEvent('channel.history')
  async history(data: unknown, ctx: ActionContext): Promise<{ channel: string; messages: ChannelMessageData[] }> {
    const input = readChannelInput(data, 'channel.history', ['limit']);
    const { channel } = input;
    const kept = this.config(channel).history;
    let limit = kept;
    if (input.limit !== undefined) {
      if (!(typeof input.limit === 'number' && Number.isSafeInteger(input.limit) && input.limit >= 1)) {
        throw BindingError.badRequest('limit must be a positive integer', [{ field: 'limit', constraint: 'min', message: 'limit must be a positive integer' }]);
      }
      limit = Math.min(input.limit, kept);
    }
    await this.mayJoin(ctx.user, channel);
    return { channel, messages: await this.messages.history(channel, limit) };
  }

  @ChannelEvent('channel.info')
  async info(data: unknown, ctx: ActionContext): Promise<{ channel: string; users: Array<{ user: string; state: unknown }>; config: ResolvedChannelConfig }> {
    const { channel } = readChannelInput(data, 'channel.info', []);
    await this.mayJoin(ctx.user, channel);
    const config = this.config(channel);
    return { channel, users: config.presence ? await this.presence.list(channel) : [], config };
  }

  @ChannelEvent('channel.state')
  async state(data: unknown, ctx: ActionContext): Promise<{ channel: string; user: string; state: unknown }> {
    const subscriber = requireSocket(ctx, 'channel.state');
    const input = readChannelInput(data, 'channel.state', ['state']);
    const { channel } = input;
    if (!('state' in input)) throw BindingError.badRequest('state is required', [{ field: 'state', constraint: 'isDefined', message: 'state is required' }]);
    const state = this.readJson(input.state, 'state');
    if (!this.config(channel).presence) throw BindingError.badRequest(`Presence is off in channel ${channel}`);
    const user = this.policy.identify(ctx.user);
    if (user === undefined) throw new BindingError('forbidden', 'Anonymous users have no presence state');
    if (!this.joined.get(subscriber)?.get(channel)) throw notJoined(channel);
    const stored = await this.storeState(channel, user, state);
    if (!stored) throw notJoined(channel);
    const update = { channel, user, state };
    this.broadcast(channel, 'channel.state', update);
    return update;
  }

  /**
   * Stores the state of `user` in `channel`, charged to the user's presence budget (a state
   * over it is `bad_request`); false when the user is not present there.
   */
  async storeState(channel: string, user: string, state: unknown): Promise<boolean> {
    // Charged before the store answers, so concurrent states cannot together pass the bound.
    const key = `${channel}\0${user}`;
    const held = this.stateBytes.get(key) ?? 0;
    const size = 64 + key.length + approximateSize(state);
    const budget = this.hub.memory.presence;
    if (size > held) budget.charge(user, size - held);
    else budget.release(user, held - size);
    this.stateBytes.set(key, size);
    let stored = false;
    try {
      stored = await this.presence.setState(channel, user, state);
    } finally {
      if (!stored) this.releaseState(channel, user);
    }
    return stored;
  }

  /** Sends `{event, data}` to every member of `channel`; answers how many sockets got it. */
  broadcast(channel: string, event: string, data: unknown): number {
    return this.hub.broadcast(channelRoom(channel), this.codec.message(event, data));
  }

  /** A socket closed: it parts every channel it was in (presence counts its user's other sockets). */
  private disconnected(subscriber: Subscriber): void {
    this.closed.add(subscriber);
    const channels = this.joined.get(subscriber);
    if (!channels) return;
    this.joined.delete(subscriber);
    let user: string | undefined;
    try {
      user = this.policy.identify(subscriber.user);
    } catch {
      return; // identify threw (logged): its presence cannot be named, and a close handler must not throw
    }
    for (const [channel, counted] of channels) {
      if (counted) void this.part(channel, user!, subscriber).catch(() => undefined);
    }
  }

  /** Removes one socket of `user` from the presence of `channel`; announces the user's departure with its last socket. */
  private async part(channel: string, user: string, subscriber: Subscriber): Promise<void> {
    const parted = await this.presence.remove(channel, user, this.socketKey(subscriber));
    // The state's bytes were charged here: given back when the user has no socket left in the channel on this instance.
    if (parted || !this.presentHere(channel, user)) this.releaseState(channel, user);
    if (parted) this.broadcast(channel, 'channel.presence', { channel, user, action: 'parted' });
  }

  private presentHere(channel: string, user: string): boolean {
    for (const member of this.hub.members(channelRoom(channel))) {
      if (this.joined.get(member)?.get(channel) && this.policy.identify(member.user) === user) return true;
    }
    return false;
  }

  private releaseState(channel: string, user: string): void {
    const key = `${channel}\0${user}`;
    const held = this.stateBytes.get(key);
    if (held === undefined) return;
    this.stateBytes.delete(key);
    this.hub.memory.presence.release(user, held);
  }

  private socketKey(subscriber: Subscriber): string {
    let key = this.socketKeys.get(subscriber);
    if (!key) this.socketKeys.set(subscriber, (key = `${this.instanceId}-${(++this.sockets).toString(36)}`));
    return key;
  }

  private async mayJoin(user: unknown, channel: string): Promise<void> {
    const can = this.options.channels.can.join;
    if (can && !(await can(user, channel))) throw new BindingError('forbidden', `Not allowed in channel ${channel}`);
  }

  /** Posting, editing and deleting need `can.join` and `can.message`. */
  private async mayWrite(user: unknown, channel: string, message: unknown): Promise<void> {
    await this.mayJoin(user, channel);
    await this.mayPost(user, channel, message);
  }

  private async mayPost(user: unknown, channel: string, message: unknown): Promise<void> {
    const can = this.options.channels.can.message;
    if (can && !(await can(user, channel, message))) throw new BindingError('forbidden', `Not allowed to post in channel ${channel}`);
  }

  /** The stored message `id`, when `user` wrote it: only its author may edit or delete a message. */
  private async ownMessage(channel: string, id: string, user: unknown): Promise<ChannelMessageData> {
    const message = await this.messages.find(channel, id);
    if (!message) throw messageNotFound(channel, id);
    const name = this.policy.identify(user);
    if (name === undefined || message.user !== name) throw new BindingError('forbidden', 'Only the author of a message may change it');
    return message;
  }

  /** A message's content as `channel.message` accepts it: non-empty JSON within `limits.stringLength`. */
  readMessage(value: unknown): unknown {
    if (value === undefined || value === null || value === '') {
      throw BindingError.badRequest('message is required', [{ field: 'message', constraint: 'isNotEmpty', message: 'message must not be empty' }]);
    }
    return this.readJson(value, 'message');
  }

  /** Any JSON value up to `limits.stringLength` characters once serialized. */
  readJson(value: unknown, field: string): unknown {
    const max = this.options.limits.stringLength;
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch {
      json = undefined;
    }
    if (json === undefined) throw BindingError.badRequest(`${field} must be JSON`);
    if (json.length > max) {
      throw BindingError.badRequest(`${field} is too long`, [
        { field, constraint: 'maxLength', message: `${field} must be at most ${max} characters of JSON` },
      ]);
    }
    return value;
  }
}

function requireSocket(ctx: ActionContext, event: string): Subscriber {
  if (!ctx.subscriber) throw BindingError.badRequest(`${event} needs a WebSocket connection: channel membership belongs to a socket`);
  return ctx.subscriber;
}

function readId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 100) {
    throw BindingError.badRequest('id must be a message id', [{ field: 'id', constraint: 'isString', message: 'id must be the id of a message' }]);
  }
  return id;
}

function notJoined(channel: string): BindingError {
  return new BindingError('forbidden', `Join channel ${channel} before setting a state in it`);
}

function messageNotFound(channel: string, id: string): BindingError {
  return new BindingError('not_found', `Message ${id} not found in channel ${channel}`);
}
