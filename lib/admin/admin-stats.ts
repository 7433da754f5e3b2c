import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { Authenticator } from '../auth/authenticator.js';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError } from '../protocol/binding-error.js';
import { RoomHub } from '../rooms/room-hub.js';
import { RateMeter } from './rate-meter.js';
import { Traffic } from './traffic.js';

/** What `GET <restPrefix>/admin/stats` answers. */
export interface AdminStatsBody {
  /** Open WebSockets. */
  connections: number;
  /** Rooms with at least one subscriber. */
  rooms: Array<{ room: string; subscribers: number }>;
  /** Frames sent to sockets per second (pushes and broadcasts), over the last 10 seconds. */
  pushesPerSecond: number;
  /** Requests per second (WebSocket frames and REST events), over the last 10 seconds. */
  requestsPerSecond: number;
  /** Rooms kept for replay (occupied or within the replay window) and the pushes they hold. */
  replay: { rooms: number; pushes: number };
}

/** Rates are measured over this window, sampled ten times across it. */
const WINDOW = 10_000;

/** `GET <restPrefix>/admin/stats`, for the users the module option `admin.can` allows. */
@Injectable()
export class AdminStats implements OnModuleDestroy {
  private readonly pushes: RateMeter;
  private readonly requests: RateMeter;
  private readonly sampler: NodeJS.Timeout;

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly authenticator: Authenticator,
    private readonly hub: RoomHub,
    private readonly traffic: Traffic,
  ) {
    this.pushes = new RateMeter(() => this.hub.pushes, WINDOW);
    this.requests = new RateMeter(() => this.traffic.requests, WINDOW);
    this.sampler = setInterval(() => {
      const now = Date.now();
      this.pushes.sample(now);
      this.requests.sample(now);
    }, WINDOW / 10).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sampler);
  }

  /** The statistics, when the request's user is an admin: 401 without a user when `anonymous` is false, 403 otherwise. */
  async forRequest(req: IncomingMessage): Promise<AdminStatsBody> {
    const user = await this.authenticator.authenticate(req);
    const can = this.options.admin?.can;
    let allowed: boolean;
    try {
      allowed = Boolean(can && (await can(user)));
    } catch {
      allowed = false;
    }
    if (!allowed) throw new BindingError('forbidden', 'Statistics are for administrators (module option admin.can)');
    return this.current();
  }

  current(now = Date.now()): AdminStatsBody {
    return {
      connections: this.traffic.sockets,
      rooms: this.hub.occupied(),
      pushesPerSecond: this.pushes.rate(now),
      requestsPerSecond: this.requests.rate(now),
      replay: this.hub.replayUse(),
    };
  }
}
