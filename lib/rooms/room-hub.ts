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
import { BindingRegistry } from '../registry/binding.registry.js';
import type { KeptPush } from './replay-buffer.js';
import { Room, type RoomKind } from './room.js';
import { instanceRoom } from './room-names.js';
import type { Subscriber } from './subscriber.js';

/** How many deleted rooms' last seq are remembered (about 100 bytes each). */
const MAX_RETIRED_ROOMS = 100_000;

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
  /** The last seq of rooms deleted after their replay window (bounded, oldest forgotten first). */
  private readonly retired = new Map<string, number>();
  /** Numbers deliveries, so a socket in several matching rooms gets each push once. */
  private deliveries = 0;
  private readonly sweeper: NodeJS.Timeout;
  /** Where replays come from when pushes are kept outside this process (the Redis adapter). */
  replaySource?: (room: string, since: number) => Promise<KeptPush[] | undefined>;
  /** Hands an application message to the other instances (the Redis adapter). */
  broadcastRemote?: (room: string, frame: string) => void;
  /** Told of each new filter room, so other instances can match changes against it. */
  filterRoomCreated?: (spec: RoomSpec) => void;
  /** Pushes sent since start, for statistics. */
  pushes = 0;
  private readonly closeListeners: Array<(subscriber: Subscriber) => void> = [];

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly serializer: RowSerializer,
    private readonly policy: AccessPolicy,
    private readonly codec: FrameCodec,
    private readonly registry: BindingRegistry,
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
    // Closed while its request awaited (a query, a hook): nobody would ever remove it again.
    if (subscriber.gone) return { room: spec.name };
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
    subscriber.joined?.(room.name, room.seq);
    if (options.since === undefined) return { room: room.name };
    const missed = this.replaySource
      ? await this.replaySource(room.name, options.since)
      : existing && !(room.previousSeq > 0 && options.since <= room.previousSeq)
        ? room.replay.after(options.since, room.seq, Date.now())
        : undefined;
    if (!missed) return { room: room.name, recovered: false };
    for (const push of missed) this.send(room.binding, subscriber, push.row, push.frame);
    // A push replayed from another instance's buffer may still be on its way here live:
    // remember how far the replay went, so the live copy is not sent a second time.
    if (missed.length) (subscriber.replayed ??= new Map()).set(room.name, missed[missed.length - 1].seq);
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
    subscriber.gone = true;
    for (const room of subscriber.rooms.keys()) this.leave(room, subscriber);
    subscriber.rooms.clear();
    for (const listener of this.closeListeners) listener(subscriber);
  }

  /** Calls `listener` with every subscriber that closes, once it has left its rooms (channels announce departures). */
  onClose(listener: (subscriber: Subscriber) => void): void {
    this.closeListeners.push(listener);
  }

  /** Fans one committed change out to the sockets of every matching local room (one instance). */
  publish(change: EntityChange): void {
    const targets = this.roomsFor(change, this.filterRooms.get(change.binding.stream) ?? []).map((name) => this.rooms.get(name)).filter((room) => room !== undefined);
    if (targets.length === 0) return;
    this.deliver(this.prepare(change, targets.map((room) => ({ room: room.name, seq: room.seq + 1 }))));
  }

  /**
   * The rooms a change goes through, most specific first: its instance room, the filter
   * rooms (among `filters`) that the row matched before or after, its model room. Names
   * only: with several instances, rooms that exist elsewhere count too.
   */
  roomsFor(change: EntityChange, filters: Iterable<{ name: string; matches?: (row: Row) => boolean }>): string[] {
    const stream = change.binding.stream;
    const names = [instanceRoom(stream, change.id)];
    for (const room of filters) {
      if ((change.before && room.matches!(change.before)) || (change.after && room.matches!(change.after))) names.push(room.name);
    }
    names.push(stream);
    return names;
  }

  /** Serializes a change once, then builds the frame of each room around it. */
  prepare(change: EntityChange, rooms: ReadonlyArray<{ room: string; seq: number }>): PreparedPush {
    const binding = change.binding;
    const row = change.kind === 'deleted' ? change.before : change.after;
    const data = JSON.stringify(this.serializer.serialize(binding, row!));
    const head = this.codec.pushHead(`${binding.stream}.${change.kind}`);
    const changeId = `${this.instanceId}-${(++this.changeNo).toString(36)}`;
    const tail = `,"change":"${changeId}",${this.codec.dataMember(data)}${change.changes ? `,"changes":${JSON.stringify(change.changes)}` : ''}}`;
    return {
      stream: binding.stream,
      changeId,
      row,
      frames: rooms.map(({ room, seq }) => ({ room, seq, frame: `${head},"room":${JSON.stringify(room)},"seq":${seq}${tail}` })),
    };
  }

  /**
   * Sends a prepared push to the local members of its rooms: each socket once, through the
   * first (most specific) of its rooms, after the per-subscriber checks.
   */
  deliver(push: PreparedPush): void {
    const binding = this.registry.get(push.stream);
    const stamp = ++this.deliveries;
    const now = Date.now();
    for (const { room: name, seq, frame } of push.frames) {
      const room = this.rooms.get(name);
      if (!room) continue;
      room.seq = Math.max(room.seq, seq);
      room.replay.add({ seq, at: now, frame, row: push.row });
      // Encoded once per room: every socket of the room is sent the same bytes.
      const bytes = room.members.size > 0 ? Buffer.from(frame) : undefined;
      for (const member of room.members) {
        if (member.lastChange === stamp) continue;
        if (member.replayed && seq <= (member.replayed.get(name) ?? 0)) continue;
        member.lastChange = stamp;
        this.send(binding, member, push.row, frame, bytes);
      }
    }
  }

  /**
   * Sends an application message to every member of a room, on every instance when an
   * adapter shares rooms; answers how many sockets of this instance got it.
   */
  broadcast(name: string, frame: string): number {
    this.broadcastRemote?.(name, frame);
    return this.broadcastLocal(name, frame);
  }

  /** Sends an application message to the members of a room on this instance. */
  broadcastLocal(name: string, frame: string): number {
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

  private send(binding: BindingDefinition | undefined, member: Subscriber, row: Row | undefined, frame: string, bytes?: Buffer): void {
    const verdict = binding ? this.policy.mayReceive(binding, member, row) : true;
    this.pushes++;
    if (verdict === true && member.waiting === 0) {
      member.send(frame, bytes);
      return;
    }
    if (verdict === false) return;
    // An asynchronous check: later pushes to this member wait for it, so order holds.
    member.waiting++;
    member.pending = (member.pending ?? Promise.resolve())
      .then(() => verdict)
      .then((ok) => {
        if (ok) member.send(frame, bytes);
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
    room.previousSeq = this.retired.get(room.name) ?? 0;
    this.retired.delete(room.name);
    this.rooms.set(room.name, room);
    if (spec.kind === 'filter') {
      let set = this.filterRooms.get(spec.binding!.stream);
      if (!set) this.filterRooms.set(spec.binding!.stream, (set = new Set()));
      set.add(room);
      this.filterRoomCreated?.(spec);
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
    // Remembered so that a `since` from this room's life is never mistaken for one of the next room of that name.
    const last = Math.max(room.seq, room.previousSeq);
    if (last > 0) {
      this.retired.set(room.name, last);
      if (this.retired.size > MAX_RETIRED_ROOMS) this.retired.delete(this.retired.keys().next().value!);
    }
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
/** A change serialized once, with the frame of each room it goes through, most specific first. */
export interface PreparedPush {
  stream: string;
  changeId: string;
  /** Every column of the row, for the per-subscriber checks. */
  row: Row | undefined;
  frames: Array<{ room: string; seq: number; frame: string }>;
}

export interface RoomSpec {
  name: string;
  kind: RoomKind;
  binding?: BindingDefinition;
  matches?: (row: Row) => boolean;
  /** For filter rooms: the filter as the client sent it (validated), to share with other instances. */
  filter?: unknown;
}
