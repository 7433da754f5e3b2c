import { Logger } from '@nestjs/common';
import { ChangeSink } from '../changes/change-sink.js';
import type { FilterIndex } from '../query/index.js';
import type { EntityChange } from '../rows/entity-change.js';
import type { FilterTarget, KeptPush, PreparedPush, RoomScope, RoomSpec, RoomTarget, Scopes } from './room-shapes.js';

/** What a change numbered elsewhere needs to find its rooms: the scopes in use, found by row, that can grow. */
export interface ScopeIndex extends Scopes {
  get(hash: string): RoomScope | undefined;
  add(scope: RoomScope): void;
}

/** A change as one instance hands it to the others (JSON): every column before and after. */
export interface SharedChange {
  stream: string;
  kind: EntityChange['kind'];
  id: string | number;
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  changes?: string[];
  hidden?: boolean;
  changeId: string;
}

/**
 * The rooms of this process, as an adapter sees them: the room hub hands itself to
 * `RoomAdapter.attach`, and the adapter calls back only through these methods.
 */
export interface RoomHost {
  /** Numbers a change in the local rooms and sends it to their members (one process). */
  publish(change: EntityChange): void;
  /** The id of a change in pushes, given on first use (kept on the change). */
  changeId(change: EntityChange): string;
  /** One commit's changes, after their pushes: `local` when committed by this process (live lists keep pages current with them). */
  committed(changes: readonly EntityChange[], local: boolean): void;
  /** A change of a commit shared by another instance, from its JSON form; undefined for an unknown stream. */
  remoteChange(shared: SharedChange): EntityChange | undefined;
  /** The rooms a change goes through (names and numbering keys), among `filters` and `scopes` known anywhere. */
  roomsFor(change: EntityChange, filters: Iterable<FilterTarget> | FilterIndex<FilterTarget>, scopes?: Scopes): RoomTarget[];
  /** Serializes a change once, with the frame of each room numbered as given. */
  prepare(change: EntityChange, rooms: ReadonlyArray<{ room: string; key?: string; seq: number }>): PreparedPush;
  /** Sends a prepared push to the local members of its rooms. */
  deliver(push: PreparedPush): void;
  /** The frame of a push in one room, from the parts every room shares (a push's `head` and `tail`). */
  pushFrame(head: string, room: string, seq: number, tail: string): string;
  /** Sends an application message to the local members of a room. */
  broadcastLocal(name: string, frame: string): number;
  /** Whether the room keyed `key` exists here. */
  hasRoom(key: string): boolean;
  /** Keys of the rooms with local members. */
  occupiedKeys(): string[];
  /** Keys of the filter rooms that exist here. */
  filterRoomNames(): Iterable<{ stream: string; room: string }>;
  /** A filter room of another instance, compiled here; undefined for an unknown stream. */
  filterTarget(stream: string, key: string, filter: unknown): FilterTarget | undefined;
  /** An empty index of the scopes of a scoped binding; undefined when the binding is unknown or unscoped. */
  scopeIndex(stream: string): ScopeIndex | undefined;
  /** A scope announced by another instance, compiled here. */
  remoteScope(stream: string, hash: string, filter: unknown): RoomScope | undefined;
  /** The streams of every binding, and whether each is scoped. */
  streams(): Array<{ stream: string; scoped: boolean }>;
}

/**
 * Where rooms meet the world outside this process. An abstract class used as its own
 * injection token (`app.get(RoomAdapter)`): the default, {@link MemoryRoomAdapter}, keeps
 * everything in this process; the Redis adapter shares rooms, numbering and replay between
 * instances. The room hub calls down into it through these methods; an adapter calls back
 * only through the {@link RoomHost} it is attached to.
 *
 * To write your own, extend this class and pass an instance as the module's `adapter`
 * option. Nest calls its lifecycle hooks (`onModuleInit`, `onModuleDestroy`…) when it has them.
 */
export abstract class RoomAdapter extends ChangeSink {
  private attached?: RoomHost;

  /** The rooms of this process; set by the room hub when it is created. */
  protected get host(): RoomHost {
    if (!this.attached) throw new Error('nest-bindings: this RoomAdapter is not attached to a room hub yet; pass it as the module option `adapter`');
    return this.attached;
  }

  /** Called once by the room hub with itself. Override to set up, calling `super.attach(host)`. */
  attach(host: RoomHost): void {
    this.attached = host;
  }

  /** A change was committed here: number it and get it to the rooms (of every instance, for a shared adapter). */
  abstract publish(change: EntityChange): void;

  /**
   * One commit made here: each change is published (a failing one does not stop the
   * others), then the commit as a whole goes to the live lists of this process; a shared
   * adapter hands it to the other instances too (see `shareCommit`).
   */
  override commit(changes: readonly EntityChange[]): void {
    // Ids first: an adapter that publishes asynchronously gives the same ids to pushes and live frames.
    for (const change of changes) this.host.changeId(change);
    for (const change of changes) {
      if (change.hidden) continue; // for live lists only
      try {
        this.publish(change);
      } catch (error) {
        // The application's serialize threw (logged with its message where it happened).
        new Logger('BindingsModule').error(`Push of ${change.binding.stream} ${change.id} was not sent: ${(error as Error)?.message ?? error}`);
      }
    }
    this.host.committed(changes, true);
    this.shareCommit(changes);
  }

  /** A commit made here, for the live lists of other instances: a shared adapter sends it on (memory: nothing to do). */
  protected shareCommit(_changes: readonly EntityChange[]): void {}

  /**
   * When declared, numbering and replay are kept by the adapter rather than in each room:
   * answers the last seq of the room keyed `key` (named `name`) and, with `since`, the pushes
   * after it (`missed` undefined when some are gone); undefined when the store is unreachable
   * (the client is told to refetch). Left undeclared, rooms keep their own replay buffers.
   */
  replay?(key: string, since: number | undefined, name: string): Promise<{ seq: number; missed?: KeptPush[] } | undefined>;

  /** A filter room was created here (keyed `key`): an adapter shared by instances lets the others match changes against it. */
  filterRoomCreated(_spec: RoomSpec, _key: string): void {}

  /**
   * A scope of a scoped binding is new to this instance. A subscribe waits for the promise,
   * so that changes committed elsewhere after its reply are counted in the scope's rooms.
   */
  scopeCreated(_stream: string, _scope: RoomScope): Promise<void> | void {}

  /** An application message for a room: a shared adapter hands it to the other instances (the hub delivers it locally). */
  broadcast(_room: string, _frame: string): void {}
}
