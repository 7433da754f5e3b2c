import { applyDecorators, Injectable, SetMetadata, type OnModuleDestroy } from '@nestjs/common';
import { PresenceStore } from '../adapters/presence-store.js';
import { Traffic } from '../admin/traffic.js';
import { ON_STREAM_METADATA, STREAM_SUBSCRIBER_METADATA } from '../bindings.constants.js';
import { ChannelActions } from '../channels/channel-actions.js';
import { CHANNEL_ROOM_PREFIX } from '../channels/channel-names.js';
import { BindingError } from '../protocol/binding-error.js';
import { FrameCodec } from '../protocol/frame-codec.js';
import type { ActionContext } from '../rooms/action-context.js';
import { RoomHub } from '../rooms/room-hub.js';
import { EventStreams } from './event-streams.js';
import type { StandaloneUser } from './token-auth.js';

/** The room of this instance's admin pages (not a channel: no client can join it). */
const ADMIN_ROOM = 'bindings:admin';
/** Seconds per bucket of the rate history, and buckets kept (5 minutes). */
const BUCKET_SECONDS = 10;
const BUCKETS = 30;
/** How often open admin pages get new figures (ms). */
const REFRESH = 2000;
/** Channels listed at most, the busiest first. */
const MAX_CHANNELS = 50;

/** What the admin page shows: this instance's figures. */
export interface AdminSnapshot {
  at: string;
  uptime: number;
  connections: { sockets: number; streams: number };
  /** Per second over the last bucket: requests received, frames sent; messages posted per minute over the last minute. */
  now: { requestsPerSecond: number; framesPerSecond: number; messagesPerMinute: number };
  /** Counts per bucket of `bucketSeconds` over five minutes, oldest first, the current (partial) bucket last. */
  history: { bucketSeconds: number; requests: number[]; frames: number[]; messages: number[] };
  channels: Array<{ channel: string; sockets: number; users: number; history: number; presence: boolean }>;
  /** Channels with members on this instance, listed or not. */
  channelCount: number;
}

/**
 * `admin.watch`, the live feed of the `/admin` page: an admin's socket (a user of the
 * configuration's `admin.users`) joins this instance's admin room, gets the figures in the
 * reply, then `admin.stats` frames every two seconds while any page is open.
 */
@Injectable()
export class AdminFeed implements OnModuleDestroy {
  private readonly started = Date.now();
  private readonly buckets: Array<{ requests: number; frames: number; messages: number }> = [];
  private last: { requests: number; frames: number; messages: number; at: number };
  private readonly sampler: NodeJS.Timeout;
  private readonly refresher: NodeJS.Timeout;

  constructor(
    private readonly hub: RoomHub,
    private readonly traffic: Traffic,
    private readonly channels: ChannelActions,
    private readonly presence: PresenceStore,
    private readonly streams: EventStreams,
    private readonly codec: FrameCodec,
  ) {
    this.last = { ...this.counters(), at: Date.now() };
    this.sampler = setInterval(() => this.sample(), BUCKET_SECONDS * 1000).unref();
    this.refresher = setInterval(() => void this.refresh(), REFRESH).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sampler);
    clearInterval(this.refresher);
  }

  @AdminEvent('admin.watch')
  async watch(_data: unknown, ctx: ActionContext): Promise<AdminSnapshot> {
    if (!(ctx.user as StandaloneUser | null)?.admin) throw new BindingError('forbidden', 'The admin feed is for the users of the configuration admin.users');
    if (!ctx.subscriber) throw BindingError.badRequest('admin.watch needs a WebSocket connection');
    await this.hub.subscribe(ctx.subscriber, { name: ADMIN_ROOM, kind: 'custom' }, { explicit: true });
    return this.snapshot();
  }

  /** This instance's figures now. */
  async snapshot(now = Date.now()): Promise<AdminSnapshot> {
    const current = this.counters();
    const partial = {
      requests: current.requests - this.last.requests,
      frames: current.frames - this.last.frames,
      messages: current.messages - this.last.messages,
    };
    // Before five minutes have passed, the buckets before start count nothing: the chart always spans the window.
    const before = Array.from({ length: BUCKETS - 1 - this.buckets.length }, () => ({ requests: 0, frames: 0, messages: 0 }));
    const all = [...before, ...this.buckets, partial];
    const seconds = Math.max(1, (now - this.last.at) / 1000);
    const previous = this.buckets[this.buckets.length - 1];
    // Over the last full bucket when there is one, else over the partial one.
    const rate = (key: 'requests' | 'frames') =>
      Math.round((previous && seconds < BUCKET_SECONDS / 2 ? previous[key] / BUCKET_SECONDS : partial[key] / seconds) * 10) / 10;
    const lastMinute = all.slice(-(60 / BUCKET_SECONDS)).reduce((sum, b) => sum + b.messages, 0);
    const rooms = this.hub
      .occupied()
      .filter(({ room }) => room.startsWith(CHANNEL_ROOM_PREFIX))
      .sort((a, b) => b.subscribers - a.subscribers);
    const channels = await Promise.all(
      rooms.slice(0, MAX_CHANNELS).map(async ({ room, subscribers }) => {
        const channel = room.slice(CHANNEL_ROOM_PREFIX.length);
        const config = this.channels.config(channel);
        const users = config.presence ? (await this.presence.list(channel).catch(() => [])).length : 0;
        return { channel, sockets: subscribers, users, history: config.history, presence: config.presence };
      }),
    );
    return {
      at: new Date(now).toISOString(),
      uptime: Math.round((now - this.started) / 1000),
      connections: { sockets: this.traffic.sockets, streams: this.streams.streams.size },
      now: { requestsPerSecond: rate('requests'), framesPerSecond: rate('frames'), messagesPerMinute: lastMinute },
      history: {
        bucketSeconds: BUCKET_SECONDS,
        requests: all.map((b) => b.requests),
        frames: all.map((b) => b.frames),
        messages: all.map((b) => b.messages),
      },
      channels,
      channelCount: rooms.length,
    };
  }

  private counters(): { requests: number; frames: number; messages: number } {
    return { requests: this.traffic.requests, frames: this.hub.pushes, messages: this.channels.posted };
  }

  private sample(): void {
    const current = this.counters();
    this.buckets.push({
      requests: current.requests - this.last.requests,
      frames: current.frames - this.last.frames,
      messages: current.messages - this.last.messages,
    });
    if (this.buckets.length > BUCKETS - 1) this.buckets.shift();
    this.last = { ...current, at: Date.now() };
  }

  private async refresh(): Promise<void> {
    if (this.hub.members(ADMIN_ROOM).size === 0) return;
    const snapshot = await this.snapshot();
    this.hub.broadcastLocal(ADMIN_ROOM, this.codec.message('admin.stats', snapshot));
  }
}

/** Serves an event with the socket's subscriptions in the context, as the channel events are. */
function AdminEvent(name: string): MethodDecorator {
  return applyDecorators(SetMetadata(ON_STREAM_METADATA, name), SetMetadata(STREAM_SUBSCRIBER_METADATA, true));
}
