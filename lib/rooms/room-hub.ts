import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { RowSerializer } from '../actions/row-serializer.js';
import { AccessPolicy } from '../auth/access-policy.js';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import type { EntityChange, Row } from '../changes/entity-change.js';
import { BindingError } from '../protocol/binding-error.js';
import { FrameCodec } from '../protocol/frame-codec.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import { Room, type RoomKind } from './room.js';
import type { Subscriber } from './subscriber.js';

/** What `subscribe` answers. */
export interface SubscribeResult {
  room: string;
  recovered?: boolean;
}

/**
 * Room membership, push numbering, replay, and the fan-out of committed changes.
 * A change is serialized once per room that it matches, and every socket gets it once,
 * through the most specific of its rooms (instance, then filter, then model).
 */
@Injectable()
export class RoomHub implements OnModuleDestroy {
  private readonly rooms = new Map<string, Room>();
  /** Filter rooms by stream: each change is matched against these in memory. */
  private readonly filterRooms = new Map<string, Set<Room>>();
  /** Prefix of change ids, unique per process, so ids never collide across instances. */
  private readonly instanceId = randomBytes(4).toString('hex');
  private changeNo = 0;
  private readonly sweeper: NodeJS.Timeout;
  /** Pushes sent since start, for statistics. */
  pushes = 0;

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly serializer: RowSerializer,
    private readonly policy: AccessPolicy,
    private readonly codec: FrameCodec,
  ) {
    const every = Math.min(60_000, Math.max(1000, options.replay.maxAge / 4));
    this.sweeper = setInterval(() => this.sweep(Date.now()), every).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  /**
   * Adds `subscriber` to a room, creating the room on first use. With `since`, the pushes
   * it missed are sent first (each checked as a live push would be), then the answer says
   * whether that was complete.
   */
  async subscribe(subscriber: Subscriber, spec: RoomSpec, options: { explicit: boolean; since?: number }): Promise<SubscribeResult> {
    const existing = this.rooms.get(spec.name);
    const room = existing ?? this.createRoom(spec);
    const already = subscriber.rooms.get(room);
    if (already === undefined) {
      if (!this.makeRoom(subscriber)) {
        if (!options.explicit) return { room: room.name };
        this.dropIfEmpty(room);
        throw BindingError.badRequest(`A socket may hold at most ${this.options.limits.subscriptionsPerSocket} subscriptions; unsubscribe first`);
      }
      room.members.add(subscriber);
      room.emptySince = 0;
    } else {
      subscriber.rooms.delete(room); // re-inserted below: most recently used
    }
    subscriber.rooms.set(room, options.explicit || already === true);
    if (options.since === undefined) return { room: room.name };
    const missed = existing ? room.replay.after(options.since, room.seq, Date.now()) : undefined;
    if (!missed) return { room: room.name, recovered: false };
    for (const push of missed) this.deliver(room.binding, subscriber, push.row, push.frame);
    await subscriber.pending;
    return { room: room.name, recovered: true };
  }

  /** Removes `subscriber` from the room named `name`; a no-op when it was not in it. */
  unsubscribe(subscriber: Subscriber, name: string): void {
    const room = this.rooms.get(name);
    if (room && subscriber.rooms.delete(room)) this.leave(room, subscriber);
  }

  /** Removes a closed subscriber from every room. */
  leaveAll(subscriber: Subscriber): void {
    for (const room of subscriber.rooms.keys()) this.leave(room, subscriber);
    subscriber.rooms.clear();
  }

  /** Fans one committed change out to the sockets of every matching room. */
  publish(change: EntityChange): void {
    const binding = change.binding;
    const targets: Room[] = [];
    const instance = this.rooms.get(`${binding.stream}:${change.id}`);
    if (instance) targets.push(instance);
    const filters = this.filterRooms.get(binding.stream);
    if (filters) {
      for (const room of filters) {
        if ((change.before && room.matches!(change.before)) || (change.after && room.matches!(change.after))) targets.push(room);
      }
    }
    const model = this.rooms.get(binding.stream);
    if (model) targets.push(model);
    if (targets.length === 0) return;

    const changeNo = ++this.changeNo;
    const row = change.kind === 'deleted' ? change.before : change.after;
    const data = JSON.stringify(this.serializer.serialize(binding, row!));
    const head = this.codec.pushHead(`${binding.stream}.${change.kind}`);
    const tail = `,"change":"${this.instanceId}-${changeNo.toString(36)}",${this.codec.dataMember(data)}${change.changes ? `,"changes":${JSON.stringify(change.changes)}` : ''}}`;
    const now = Date.now();
    for (const room of targets) {
      const seq = ++room.seq;
      const frame = `${head},"room":${JSON.stringify(room.name)},"seq":${seq}${tail}`;
      room.replay.add({ seq, at: now, frame, row });
      for (const member of room.members) {
        if (member.lastChange === changeNo) continue;
        member.lastChange = changeNo;
        this.deliver(binding, member, row, frame);
      }
    }
  }

  /** Sends an application message to every member of a room; answers how many got it. */
  broadcast(name: string, frame: string): number {
    const room = this.rooms.get(name);
    if (!room) return 0;
    for (const member of room.members) member.send(frame);
    this.pushes += room.members.size;
    return room.members.size;
  }

  /** Rooms with at least one member. */
  occupied(): Array<{ room: string; subscribers: number }> {
    return [...this.rooms.values()].filter((r) => r.members.size > 0).map((r) => ({ room: r.name, subscribers: r.members.size }));
  }

  /** Members of a room, or an empty set. */
  members(name: string): ReadonlySet<Subscriber> {
    return this.rooms.get(name)?.members ?? new Set();
  }

  /** Rooms kept for replay, and the pushes they hold. */
  replayUse(): { rooms: number; pushes: number } {
    let pushes = 0;
    for (const room of this.rooms.values()) pushes += room.replay.length;
    return { rooms: this.rooms.size, pushes };
  }

  private deliver(binding: BindingDefinition | undefined, member: Subscriber, row: Row | undefined, frame: string): void {
    const verdict = binding ? this.policy.mayReceive(binding, member, row) : true;
    this.pushes++;
    if (verdict === true && member.waiting === 0) {
      member.send(frame);
      return;
    }
    if (verdict === false) return;
    // An asynchronous check: later pushes to this member wait for it, so order holds.
    member.waiting++;
    member.pending = member.pending
      .then(() => verdict)
      .then((ok) => {
        if (ok) member.send(frame);
      })
      .finally(() => member.waiting--);
  }

  /** Frees a slot for one more subscription, dropping the least recently used automatic one. */
  private makeRoom(subscriber: Subscriber): boolean {
    if (subscriber.rooms.size < this.options.limits.subscriptionsPerSocket) return true;
    for (const [room, explicit] of subscriber.rooms) {
      if (!explicit) {
        subscriber.rooms.delete(room);
        this.leave(room, subscriber);
        return true;
      }
    }
    return false;
  }

  private createRoom(spec: RoomSpec): Room {
    const room = new Room(spec.name, spec.kind, this.options.replay, spec.binding, spec.matches);
    this.rooms.set(room.name, room);
    if (spec.kind === 'filter') {
      let set = this.filterRooms.get(spec.binding!.stream);
      if (!set) this.filterRooms.set(spec.binding!.stream, (set = new Set()));
      set.add(room);
    }
    return room;
  }

  private leave(room: Room, subscriber: Subscriber): void {
    room.members.delete(subscriber);
    if (room.members.size === 0) room.emptySince = Date.now();
  }

  private dropIfEmpty(room: Room): void {
    if (room.members.size === 0 && room.seq === 0) this.deleteRoom(room);
  }

  private deleteRoom(room: Room): void {
    this.rooms.delete(room.name);
    if (room.kind === 'filter') this.filterRooms.get(room.binding!.stream)?.delete(room);
  }

  /** Deletes rooms that have been empty for longer than the replay window; trims buffers. */
  private sweep(now: number): void {
    for (const room of this.rooms.values()) {
      if (room.members.size === 0 && now - room.emptySince > this.options.replay.maxAge) this.deleteRoom(room);
      else room.replay.prune(now);
    }
  }
}

/** How to create a room when the first subscriber arrives. */
export interface RoomSpec {
  name: string;
  kind: RoomKind;
  binding?: BindingDefinition;
  matches?: (row: Row) => boolean;
}
