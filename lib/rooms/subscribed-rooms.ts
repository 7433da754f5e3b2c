import type { Room } from './room.js';

/** Rooms kept in the flat list before it becomes a Map: scans of a few entries cost less than hashing. */
const LIST_ROOMS = 8;
const EMPTY: ReadonlyArray<Room | boolean> = [];

/**
 * The rooms one subscriber joined, each with whether it was explicit, in the order of last
 * use (least recent first), with the Map operations the hub needs. An idle socket holds one
 * room or a few: a Map costs about 184 bytes even for one entry, so one room is kept in two
 * fields, a few in a flat list of `[room, explicit, …]` pairs (about 64 bytes for two), and
 * a Map is used once the list would hold more than `LIST_ROOMS`.
 */
export class SubscribedRooms {
  /** The only room, while there is exactly one (then `list` is empty and `map` unset). */
  private solo: Room | undefined = undefined;
  private soloExplicit = false;
  /** Pairs `room, explicit`, allocated to their exact length (`concat`), for two rooms or more until `map` is set. */
  private list = EMPTY;
  private map: Map<Room, boolean> | undefined = undefined;

  get size(): number {
    return this.map ? this.map.size : this.solo ? 1 : this.list.length / 2;
  }

  has(room: Room): boolean {
    if (this.map) return this.map.has(room);
    return this.solo ? this.solo === room : this.list.indexOf(room) !== -1;
  }

  /** Whether `room` was joined explicitly; undefined when it was not joined. */
  get(room: Room): boolean | undefined {
    if (this.map) return this.map.get(room);
    if (this.solo) return this.solo === room ? this.soloExplicit : undefined;
    const at = this.list.indexOf(room);
    return at === -1 ? undefined : (this.list[at + 1] as boolean);
  }

  /** As `Map.set`: a room already held keeps its place, a new one is the most recent. */
  set(room: Room, explicit: boolean): void {
    if (this.map) {
      this.map.set(room, explicit);
      return;
    }
    if (this.solo) {
      if (this.solo === room) this.soloExplicit = explicit;
      else {
        this.list = [this.solo, this.soloExplicit, room, explicit];
        this.solo = undefined;
      }
      return;
    }
    if (this.list.length === 0) {
      this.solo = room;
      this.soloExplicit = explicit;
      return;
    }
    const at = this.list.indexOf(room);
    if (at !== -1) {
      (this.list as Array<Room | boolean>)[at + 1] = explicit; // never EMPTY here: it holds `room`
    } else if (this.list.length < 2 * LIST_ROOMS) {
      this.list = this.list.concat(room, explicit);
    } else {
      this.map = new Map(this.pairs());
      this.map.set(room, explicit);
      this.list = EMPTY;
    }
  }

  delete(room: Room): boolean {
    if (this.map) return this.map.delete(room);
    if (this.solo) {
      if (this.solo !== room) return false;
      this.solo = undefined;
      return true;
    }
    const at = this.list.indexOf(room);
    if (at === -1) return false;
    if (this.list.length === 4) {
      // One room left: back to the two fields.
      this.solo = this.list[2 - at] as Room;
      this.soloExplicit = this.list[3 - at] as boolean;
      this.list = EMPTY;
    } else this.list = this.list.slice(0, at).concat(this.list.slice(at + 2));
    return true;
  }

  /** The least recently used room joined automatically; undefined when every room was joined explicitly. */
  oldestAutomatic(): Room | undefined {
    if (this.map) {
      for (const [room, explicit] of this.map) if (!explicit) return room;
      return undefined;
    }
    if (this.solo) return this.soloExplicit ? undefined : this.solo;
    for (let i = 0; i < this.list.length; i += 2) if (!this.list[i + 1]) return this.list[i] as Room;
    return undefined;
  }

  clear(): void {
    this.solo = undefined;
    this.list = EMPTY;
    this.map = undefined;
  }

  /** The rooms, least recently used first (a copy for the list: deleting while iterating is safe, as with a Map). */
  keys(): IterableIterator<Room> {
    if (this.map) return this.map.keys();
    return (this.solo ? [this.solo] : (this.list.filter((_, i) => i % 2 === 0) as Room[])).values();
  }

  /** `[room, explicit]` pairs, least recently used first. */
  entries(): IterableIterator<[Room, boolean]> {
    return this.map ? this.map.entries() : this.pairs().values();
  }

  [Symbol.iterator](): IterableIterator<[Room, boolean]> {
    return this.entries();
  }

  private pairs(): Array<[Room, boolean]> {
    if (this.solo) return [[this.solo, this.soloExplicit]];
    const pairs: Array<[Room, boolean]> = [];
    for (let i = 0; i < this.list.length; i += 2) pairs.push([this.list[i] as Room, this.list[i + 1] as boolean]);
    return pairs;
  }
}
