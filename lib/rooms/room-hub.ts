import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { RowSerializer } from '../rows/row-serializer.js';
import { AccessPolicy } from '../auth/access-policy.js';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import type { EntityChange, Row } from '../rows/entity-change.js';
import { BindingError } from '../protocol/binding-error.js';
import { FrameCodec } from '../protocol/frame-codec.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import { BindingRegistry } from '../registry/binding.registry.js';
import { MemoryRoomAdapter } from '../adapters/memory/memory-room-adapter.js';
import { RoomAdapter, type RoomHost, type ScopeIndex, type SharedChange } from '../adapters/room-adapter.js';
import { compileMatcher, equalityKey, FilterIndex, parseFilter } from '../query/index.js';
import { MemoryBudgets, type PushBody } from './memory-budget.js';
import { pushFrame } from './replay-buffer.js';
import type { FilterTarget, PreparedPush, RoomScope, RoomSpec, RoomTarget, Scopes } from '../adapters/room-shapes.js';
import { Room } from './room.js';
import { instanceRoom } from './room-names.js';
import { NO_SCOPES, remoteScope, roomScope, ScopedRooms, scopedKey, ScopeSet, splitKey } from './room-scopes.js';
import type { Subscriber } from './subscriber.js';

/** How many deleted rooms' last seq are remembered (about 100 bytes each). */
const MAX_RETIRED_ROOMS = 100_000;

/** What `subscribe` answers. */
export interface SubscribeResult {
  room: string;
  /** The room's last number, to renew from (per scope on a scoped binding). */
  seq: number;
  recovered?: boolean;
}

/**
 * Room membership, push numbering, replay, and the fan-out of committed changes.
 * A change is serialized once per room that it matches, and every socket gets it once,
 * through the most specific of its rooms (instance, then filter, then model).
 */
@Injectable()
export class RoomHub implements RoomHost, OnModuleDestroy {
  private readonly rooms = new Map<string, Room>();
  /** Filter rooms by stream, indexed by the equality each requires: a change is matched against those its row values can match. */
  private readonly filterRooms = new Map<string, FilterIndex<Room>>();
  /** Prefix of change ids, unique per process, so ids never collide across instances. */
  private readonly instanceId = randomBytes(4).toString('hex');
  private changeNo = 0;
  /** The last seq of rooms deleted after their replay window (bounded, oldest forgotten first). */
  private readonly retired = new Map<string, number>();
  /** Numbers deliveries, so a socket in several matching rooms gets each push once. */
  private deliveries = 0;
  private readonly sweeper: NodeJS.Timeout;
  /** Scopes being shared with other instances, by `<stream>#<scope hash>`. */
  private readonly sharing = new Map<string, Promise<void>>();
  /** The scopes with rooms here, and the scoped rooms by name. */
  private readonly scoped = new ScopedRooms();
  /** Pushes sent since start, for statistics. */
  pushes = 0;
  private readonly closeListeners: Array<(subscriber: Subscriber) => void> = [];
  private readonly commitListeners: Array<(changes: readonly EntityChange[], local: boolean) => void> = [];
  /** The bounds on what clients make the server keep (subscriptions, replay, presence, live lists). */
  readonly memory: MemoryBudgets<Subscriber, Room>;
  /** What every room may keep for replay. */
  private readonly replayBounds: ConstructorParameters<typeof Room>[2];

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly serializer: RowSerializer,
    private readonly policy: AccessPolicy,
    private readonly codec: FrameCodec,
    private readonly registry: BindingRegistry,
    /** Where rooms meet other instances; calls back through the RoomHost methods. */
    private readonly adapter: RoomAdapter = new MemoryRoomAdapter(),
  ) {
    adapter.attach(this);
    this.memory = new MemoryBudgets(options.limits, (subscriber) => policy.identify(subscriber.user));
    this.replayBounds = { ...options.replay, bytes: options.limits.replayBytesPerRoom, memory: this.memory.replay };
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
    const entered = this.enter(subscriber, spec, options.explicit);
    if ('refused' in entered) return entered.refused;
    return this.settle(subscriber, entered.room, entered.created, spec, entered.scope, options.since);
  }

  /**
   * The automatic subscription that follows an action (autoSubscribe): done at once unless a
   * scope is being shared with other instances or the adapter numbers the room, when the
   * returned promise says when it is done. Refused silently, as automatic subscriptions are.
   */
  subscribeAutomatically(subscriber: Subscriber, spec: RoomSpec): Promise<unknown> | undefined {
    const entered = this.enter(subscriber, spec, false);
    if ('refused' in entered) return undefined;
    const { room, scope } = entered;
    if (this.adapter.replay || (scope && this.sharing.has(scopedKey(spec.binding!.stream, scope.hash)))) {
      return this.settle(subscriber, room, entered.created, spec, scope, undefined);
    }
    subscriber.joined?.(room.name, room.seq);
    return undefined;
  }

  /** The room bookkeeping of a subscription, all synchronous: the room joined, or the answer of a refused automatic one. */
  private enter(
    subscriber: Subscriber,
    spec: RoomSpec,
    explicit: boolean,
  ): { room: Room; created: boolean; scope: RoomScope | undefined } | { refused: SubscribeResult } {
    // Closed while its request awaited (a query, a hook): nobody would ever remove it again.
    if (subscriber.gone) return { refused: { room: spec.name, seq: 0 } };
    const scope = this.scopeOf(spec, subscriber);
    const key = scope ? scopedKey(spec.name, scope.hash) : spec.name;
    const existing = this.rooms.get(key);
    const already = existing && subscriber.rooms.get(existing);
    if (already === undefined) {
      const admit = () => this.memory.subscriptions.admit(subscriber, spec, existing, (idle) => this.deleteRoom(idle));
      let refused = admit();
      // As with the count: the least recently used automatic subscriptions give way first.
      while (refused && this.dropAutomatic(subscriber)) refused = admit();
      if (refused && !explicit) return { refused: { room: spec.name, seq: existing?.seq ?? 0 } };
      if (refused) throw refused;
    }
    const room = existing ?? this.createRoom(spec, key, scope);
    if (already === undefined) {
      if (!this.makeRoom(subscriber)) {
        if (!explicit) return { refused: { room: room.name, seq: room.seq } };
        this.dropIfEmpty(room);
        throw BindingError.badRequest(`A socket may hold at most ${this.options.limits.subscriptionsPerSocket} subscriptions; unsubscribe first`);
      }
      room.members.add(subscriber);
      room.emptySince = 0;
      this.memory.subscriptions.joined(subscriber, room);
    } else {
      subscriber.rooms.delete(room); // re-inserted below: most recently used
    }
    subscriber.rooms.set(room, explicit || already === true);
    return { room, created: !existing, scope };
  }

  /** What follows joining `room`: a scope shared with other instances first, then the seq and any replay after `since`. */
  private async settle(
    subscriber: Subscriber,
    room: Room,
    created: boolean,
    spec: RoomSpec,
    scope: RoomScope | undefined,
    since: number | undefined,
  ): Promise<SubscribeResult> {
    const sharing = scope && this.sharing.get(scopedKey(spec.binding!.stream, scope.hash));
    if (sharing) await sharing;
    const remote = this.adapter.replay ? await this.adapter.replay(room.key, since, room.name) : undefined;
    const seq = remote ? remote.seq : room.seq;
    subscriber.joined?.(room.name, seq);
    if (since === undefined) return { room: room.name, seq };
    const missed = this.adapter.replay
      ? remote?.missed
      : !created && !(room.previousSeq > 0 && since <= room.previousSeq)
        ? room.replay.after(since, room.seq, Date.now())
        : undefined;
    if (!missed) return { room: room.name, seq, recovered: false };
    for (const push of missed) this.send(room.binding, subscriber, push.row, push.frame);
    // A push replayed from another instance's buffer may still be on its way here live:
    // remember how far the replay went, so the live copy is not sent a second time.
    if (missed.length) (subscriber.replayed ??= new Map()).set(room.name, missed[missed.length - 1].seq);
    await subscriber.pending;
    return { room: room.name, seq, recovered: true };
  }

  /** Removes `subscriber` from the room named `name` (whatever its scope); a no-op when it was not in it. */
  unsubscribe(subscriber: Subscriber, name: string): void {
    for (const room of this.named(name)) if (subscriber.rooms.delete(room)) this.leave(room, subscriber);
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

  /** Calls `listener` with the changes of every commit, of this instance (`local`) or of another one (live lists). */
  onCommit(listener: (changes: readonly EntityChange[], local: boolean) => void): void {
    this.commitListeners.push(listener);
  }

  /** One commit's changes, after their pushes went out. */
  committed(changes: readonly EntityChange[], local: boolean): void {
    for (const listener of this.commitListeners) listener(changes, local);
  }

  /** The id of a change in pushes and live frames: unique per process, given once. */
  changeId(change: EntityChange): string {
    return (change.changeId ??= `${this.instanceId}-${(++this.changeNo).toString(36)}`);
  }

  /** A change shared by another instance as JSON: dates are dates again, so that filters and order compare them as here. */
  remoteChange(shared: SharedChange): EntityChange | undefined {
    const binding = this.registry.get(shared.stream);
    if (!binding) return undefined;
    const revive = (row: Row | undefined): Row | undefined => {
      if (!row) return undefined;
      const out: Row = { ...row };
      for (const [name, field] of binding.allFields) {
        if (field.kind === 'date' && typeof out[name] === 'string') out[name] = new Date(out[name] as string);
      }
      return out;
    };
    return {
      binding,
      kind: shared.kind,
      id: shared.id,
      before: revive(shared.before),
      after: revive(shared.after),
      changes: shared.changes,
      ...(shared.hidden ? { hidden: true } : {}),
      changeId: shared.changeId,
    };
  }

  /** Fans one committed change out to the sockets of every matching local room (one instance). */
  publish(change: EntityChange): void {
    const stream = change.binding.stream;
    const targets = this.roomsFor(change, this.filterRooms.get(stream) ?? [], this.scoped.of(stream)).flatMap(({ room, key }) => {
      const local = this.rooms.get(key);
      return local ? [{ room, key, seq: local.seq + 1 }] : [];
    });
    if (targets.length === 0) return;
    this.deliver(this.prepare(change, targets));
  }

  /**
   * The rooms a change goes through, most specific first: its instance room, the filter
   * rooms (among `filters`) that the row matched before or after, its model room. Names
   * only: with several instances, rooms that exist elsewhere count too. On a scoped binding
   * each of these is one room per scope (among `scopes`) that held the row before or after
   * the change; a filter room counts it when the row was in its scope and filter at once.
   */
  roomsFor(change: EntityChange, all: Iterable<FilterTarget> | FilterIndex<FilterTarget>, scopes: Scopes = NO_SCOPES): RoomTarget[] {
    const stream = change.binding.stream;
    const instance = instanceRoom(stream, change.id);
    const { before, after } = change;
    // Indexed: only the rooms the row's values can match (the rest are confirmed below as well).
    const filters = all instanceof FilterIndex ? all.candidates(before, after) : all;
    if (!change.binding.options.scope) {
      const targets = [{ room: instance, key: instance }];
      for (const room of filters) {
        if ((before && room.matches!(before)) || (after && room.matches!(after))) targets.push({ room: room.name, key: room.key });
      }
      targets.push({ room: stream, key: stream });
      return targets;
    }
    // Whether the row was inside each scope before and after: only those scopes count the change.
    const inside = new Map<string, [boolean, boolean]>();
    for (const [i, row] of [before, after].entries()) {
      if (!row) continue;
      for (const scope of scopes.holding(row)) {
        const at = inside.get(scope.hash) ?? [false, false];
        at[i] = true;
        inside.set(scope.hash, at);
      }
    }
    const targets = [...inside.keys()].map((hash) => ({ room: instance, key: scopedKey(instance, hash) }));
    for (const room of filters) {
      const at = inside.get(room.scopeHash!);
      if (at && ((at[0] && room.matches!(before!)) || (at[1] && room.matches!(after!)))) targets.push({ room: room.name, key: room.key });
    }
    for (const hash of inside.keys()) targets.push({ room: stream, key: scopedKey(stream, hash) });
    return targets;
  }

  /** Serializes a change once, then builds the frame of each room around it. */
  prepare(change: EntityChange, rooms: ReadonlyArray<{ room: string; key?: string; seq: number }>): PreparedPush {
    const binding = change.binding;
    const row = change.kind === 'deleted' ? change.before : change.after;
    const data = JSON.stringify(this.serializer.serialize(binding, row!));
    const head = this.codec.pushHead(`${binding.stream}.${change.kind}`);
    const changeId = this.changeId(change);
    const tail = `,"change":"${changeId}",${this.codec.dataMember(data)}${change.changes ? `,"changes":${JSON.stringify(change.changes)}` : ''}}`;
    return {
      stream: binding.stream,
      changeId,
      row,
      head,
      tail,
      frames: rooms.map(({ room, key, seq }) => ({
        room,
        ...(key !== undefined && key !== room ? { key } : {}),
        seq,
        frame: pushFrame(head, room, seq, tail),
      })),
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
    // Kept once for every room's replay: each room keeps its seq and builds the frame on replay.
    const body: PushBody = { head: push.head, tail: push.tail, row: push.row };
    for (const { room: name, key, seq, frame } of push.frames) {
      const room = this.rooms.get(key ?? name);
      if (!room) continue;
      room.seq = Math.max(room.seq, seq);
      // With an adapter, replays come from its store: the local buffers would never be read.
      if (!this.adapter.replay) room.keep({ seq, at: now, body });
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
    this.adapter.broadcast(name, frame);
    return this.broadcastLocal(name, frame);
  }

  /** Sends an application message to the members of a room on this instance. */
  broadcastLocal(name: string, frame: string): number {
    let sent = 0;
    for (const room of this.named(name)) {
      for (const member of room.members) member.send(frame);
      sent += room.members.size;
    }
    this.pushes += sent;
    return sent;
  }

  /** Rooms with at least one member (the rooms of every scope of one name counted together). */
  occupied(): Array<{ room: string; subscribers: number }> {
    const counts = new Map<string, number>();
    for (const r of this.rooms.values()) if (r.members.size > 0) counts.set(r.name, (counts.get(r.name) ?? 0) + r.members.size);
    return [...counts].map(([room, subscribers]) => ({ room, subscribers }));
  }

  /** Keys of the rooms with at least one member (one per scope on a scoped binding). */
  occupiedKeys(): string[] {
    return [...this.rooms.values()].filter((r) => r.members.size > 0).map((r) => r.key);
  }

  /** Members of a room (of every scope), or an empty set. */
  members(name: string): ReadonlySet<Subscriber> {
    const rooms = this.named(name);
    if (rooms.length === 1) return rooms[0].members;
    return new Set(rooms.flatMap((room) => [...room.members]));
  }

  /** The room of that name and, on a scoped binding, its rooms of every scope. */
  private named(name: string): Room[] {
    const room = this.rooms.get(name);
    const rooms = room ? [room] : [];
    for (const scoped of this.scoped.named(name)) rooms.push(scoped);
    return rooms;
  }

  /**
   * The scope a subscriber's rooms of `spec.binding` are numbered in; undefined for unscoped
   * bindings. The scope of the socket's last subscribed binding is kept on it (shared with every
   * socket of that scope, no allocation per socket), as the scope matchers of its pushes are
   * (AccessPolicy.mayReceive): an automatic subscription on every retrieve would otherwise
   * parse, hash and compile the same scope each time.
   */
  private scopeOf(spec: RoomSpec, subscriber: Subscriber): RoomScope | undefined {
    const binding = spec.binding;
    if (!binding?.options.scope) return undefined;
    let scope = subscriber.scopeStream === binding.stream ? subscriber.roomScope : undefined;
    if (!scope) scope = roomScope(binding, this.policy.scope(binding, subscriber.user));
    scope = this.scoped.get(binding.stream, scope.hash) ?? scope;
    subscriber.scopeStream = binding.stream;
    subscriber.roomScope = scope;
    return scope;
  }

  /** Whether the room keyed `key` (its name, or `<name>#<scope hash>`) exists here, with members or kept for replay. */
  hasRoom(key: string): boolean {
    return this.rooms.has(key);
  }

  /** The keys of the filter rooms that exist here, for adapters that keep a registry of filters. */
  *filterRoomNames(): Iterable<{ stream: string; room: string }> {
    for (const [stream, rooms] of this.filterRooms) for (const room of rooms) yield { stream, room: room.key };
  }

  /** The frame of a push in one room, for adapters that send or keep a push's parts once. */
  pushFrame(head: string, room: string, seq: number, tail: string): string {
    return pushFrame(head, room, seq, tail);
  }

  /** A filter room registered by another instance, compiled with this instance's limits; undefined for an unknown stream. */
  filterTarget(stream: string, key: string, filter: unknown): FilterTarget | undefined {
    const binding = this.registry.get(stream);
    if (!binding) return undefined;
    const node = parseFilter(filter, binding.filterFields, this.options.limits.filterLimits);
    const { name, scopeHash } = binding.options.scope ? splitKey(key) : { name: key, scopeHash: undefined };
    return { name, key, scopeHash, matches: compileMatcher(node, binding.allFields, binding.sql.dialect), keys: equalityKey(node, binding.allFields) };
  }

  /** An empty index of the scopes of a scoped binding, found by row. */
  scopeIndex(stream: string): ScopeIndex | undefined {
    const binding = this.registry.get(stream);
    return binding?.options.scope ? new ScopeSet(binding) : undefined;
  }

  /** A scope announced by another instance. */
  remoteScope(stream: string, hash: string, filter: unknown): RoomScope | undefined {
    const binding = this.registry.get(stream);
    return binding ? remoteScope(binding, hash, filter) : undefined;
  }

  /** Every binding's stream, and whether it is scoped. */
  streams(): Array<{ stream: string; scoped: boolean }> {
    return [...this.registry.all()].map((binding) => ({ stream: binding.stream, scoped: !!binding.options.scope }));
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
    if (verdict === true && member.pending === undefined) {
      member.send(frame, bytes);
      return;
    }
    if (verdict === false) return;
    // An asynchronous check: later pushes to this member wait for it, so order holds; the
    // last one to finish clears the chain.
    const chain: Promise<void> = (member.pending ?? Promise.resolve())
      .then(() => verdict)
      .then((ok) => {
        if (ok) member.send(frame, bytes);
      })
      .finally(() => {
        if (member.pending === chain) member.pending = undefined;
      });
    member.pending = chain;
  }

  /**
   * Frees a slot for one more subscription (live lists count too), dropping the least
   * recently used automatic one; false when every slot is held explicitly.
   */
  makeRoom(subscriber: Subscriber): boolean {
    if (subscriber.rooms.size + subscriber.liveLists < this.options.limits.subscriptionsPerSocket) return true;
    return this.dropAutomatic(subscriber);
  }

  /** Leaves the least recently used automatic subscription of `subscriber`; false when it has none. */
  private dropAutomatic(subscriber: Subscriber): boolean {
    const room = subscriber.rooms.oldestAutomatic();
    if (!room) return false;
    subscriber.rooms.delete(room);
    this.leave(room, subscriber);
    return true;
  }

  private createRoom(spec: RoomSpec, key: string, scope: RoomScope | undefined): Room {
    const room = new Room(spec.name, spec.kind, this.replayBounds, spec.binding, spec.matches);
    room.key = key;
    room.keys = spec.keys;
    room.cost = this.memory.subscriptions.roomCost(spec);
    this.memory.subscriptions.created(room);
    room.previousSeq = this.retired.get(key) ?? 0;
    this.retired.delete(key);
    this.rooms.set(key, room);
    if (scope) {
      room.scopeHash = scope.hash;
      const shared = this.scoped.add(spec.binding!, room, scope) ? this.adapter.scopeCreated(spec.binding!.stream, scope) : undefined;
      if (shared) {
        const name = scopedKey(spec.binding!.stream, scope.hash);
        this.sharing.set(
          name,
          shared.finally(() => this.sharing.delete(name)),
        );
      }
    }
    if (spec.kind === 'filter') {
      let set = this.filterRooms.get(spec.binding!.stream);
      if (!set) this.filterRooms.set(spec.binding!.stream, (set = new FilterIndex()));
      set.add(room);
      this.adapter.filterRoomCreated(spec, key);
    }
    return room;
  }

  private leave(room: Room, subscriber: Subscriber): void {
    if (!room.members.delete(subscriber)) return;
    if (room.members.size === 0) room.emptySince = Date.now();
    this.memory.subscriptions.left(subscriber, room);
  }

  private dropIfEmpty(room: Room): void {
    if (room.members.size === 0 && room.seq === 0) this.deleteRoom(room);
  }

  private deleteRoom(room: Room): void {
    if (this.rooms.get(room.key) !== room) return;
    this.rooms.delete(room.key);
    room.replay.clear();
    this.memory.subscriptions.deleted(room);
    if (room.scopeHash !== undefined) this.scoped.remove(room.binding!.stream, room);
    // Remembered so that a `since` from this room's life is never mistaken for one of the next room of that name.
    const last = Math.max(room.seq, room.previousSeq);
    if (last > 0) {
      this.retired.set(room.key, last);
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
