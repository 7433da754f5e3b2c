import { Listeners } from './emitter.js';
import type { BindingClientError } from './errors.js';
import { IteratorGroup } from './iterator.js';
import { applyLiveOps, pageLength, type LiveOp } from './live-ops.js';
import type { Row, SearchQuery } from './types.js';

/** Frames kept while the page is being read (again); past this the page is read once more. */
const MAX_HELD = 1000;

/** The reply of a `list`/`search` sent with `live: true`: a page, plus its room and number. */
export interface LivePage<T = Row> {
  page: number;
  limit: number;
  count: number;
  rows: T[];
  /** Where the page's frames come from; `unsubscribe {room}` ends it. */
  room: string;
  /** The page's current number: frames continue from it. */
  seq: number;
}

/** A `<app>.<Model>.list.changed` (or `.search.changed`) frame. */
export interface LiveFrame<T = Row> {
  event: string;
  room: string;
  seq: number;
  /** The id of the (last) change the frame carries. */
  change?: string;
  count: number;
  ops: LiveOp<T>[];
  [member: string]: unknown;
}

/**
 * What a live list's `change` listeners (and its async iterator) get: `frame` when a frame's
 * operations were applied (`ops`, `change`), `reload` when the page was read again (after a
 * reconnect, or a frame that was missing or did not fit). `rows` and `count` are the list's
 * own after the change.
 */
export interface LiveChange<T = Row> {
  reason: 'frame' | 'reload';
  rows: readonly T[];
  count: number;
  seq: number;
  ops?: LiveOp<T>[];
  change?: string;
}

/** What a live list needs of its client. */
export interface LiveListHost {
  /** Reads the page again (live request sent anew); a no-op while a read is on its way. */
  refetch(list: LiveList<any>): void;
  release(list: LiveList<any>): Promise<void>;
}

/** The reply as a LivePage, or undefined when it is not one. */
export function readLivePage<T>(reply: unknown): LivePage<T> | undefined {
  const page = reply as Partial<LivePage<T>> | null;
  if (typeof page !== 'object' || page === null || typeof page.room !== 'string' || !Array.isArray(page.rows)) return undefined;
  const numbers = [page.page, page.limit, page.count, page.seq];
  if (!numbers.every((n) => Number.isInteger(n) && (n as number) >= 0)) return undefined;
  return page as LivePage<T>;
}

/**
 * A page of a query kept equal to what the same request would answer now (PROTOCOL.md
 * section 9): `rows` and `count` follow every committed change, a frame at a time.
 * `on('change', fn)` hears each applied frame and each reload; `for await (const change of
 * list)` yields the same; `close()` ends it on the server too. After a reconnect the client
 * sends the live request again by itself and the page is replaced (a `reload` change).
 * A frame out of sequence (`seq` not the next number) or one whose operations do not fit
 * the page makes the client read the page again rather than show a wrong one.
 */
export class LiveList<T = Row> implements AsyncIterable<LiveChange<T>> {
  private readonly listeners = new Listeners();
  private readonly iterators = new IteratorGroup<LiveChange<any>>();
  private currentRows: readonly T[] = [];
  private currentCount = 0;
  private currentPage = 1;
  private currentLimit = 0;
  private currentSeq = 0;
  private currentRoom?: string;
  private over = false;
  /** A read of the page is on its way: frames wait in `held` until its reply. */
  private awaiting = false;
  private held: LiveFrame<T>[] = [];
  private overflow = false;

  constructor(
    private readonly host: LiveListHost,
    /** The model's stream, `shop.Product`. */
    readonly stream: string,
    /** `search` when the query has a `q`, `list` otherwise. */
    readonly action: 'list' | 'search',
    /** The request, as sent (with `live: true` added). */
    readonly query: SearchQuery<T>,
  ) {}

  /** The page's rows, in order; a new array after every change (the old one is left as it was). */
  get rows(): readonly T[] {
    return this.currentRows;
  }

  /** Rows matching the query, over all pages. */
  get count(): number {
    return this.currentCount;
  }

  get page(): number {
    return this.currentPage;
  }

  /** The page size the server applied (the request's `limit`, clamped). */
  get limit(): number {
    return this.currentLimit;
  }

  /** The number of the last frame applied (or of the page as read). */
  get seq(): number {
    return this.currentSeq;
  }

  get room(): string | undefined {
    return this.currentRoom;
  }

  /** True after `close()`, `client.close()` or a refused reload. */
  get closed(): boolean {
    return this.over;
  }

  /** @internal A read of the page is on its way. */
  get _awaiting(): boolean {
    return this.awaiting;
  }

  /** Each applied frame and each reload. */
  on(name: 'change', listener: (change: LiveChange<T>) => void): () => void;
  /** A reload the server refused (the list is then over). */
  on(name: 'error', listener: (error: BindingClientError) => void): () => void;
  on(name: string, listener: (...args: any[]) => void): () => void {
    return this.listeners.add(name, listener);
  }

  off(name: 'change' | 'error', listener: (...args: any[]) => void): void {
    this.listeners.remove(name, listener);
  }

  /** Every change from the moment iteration starts, until the list is closed; a refused reload throws. */
  [Symbol.asyncIterator](): AsyncIterableIterator<LiveChange<T>> {
    return this.iterators.start();
  }

  /** Stops following the page (`unsubscribe {room}` unless another list of this client holds the room). */
  close(): Promise<void> {
    if (this.over) return Promise.resolve();
    this.end();
    return this.host.release(this);
  }

  /** @internal A read of the page is about to be sent: frames wait for its reply. */
  _begin(): void {
    this.awaiting = true;
  }

  /** @internal The read failed: frames no longer wait. */
  _abort(): void {
    this.awaiting = false;
    this._forgetHeld();
  }

  /** @internal The connection was lost: frames held from it say nothing about the next one's rooms. */
  _forgetHeld(): void {
    this.held = [];
    this.overflow = false;
  }

  /** @internal The page as read: it replaces rows and count; frames held meanwhile apply past its `seq`. */
  _load(page: LivePage<T>): void {
    if (this.over) return;
    const reload = this.currentRoom !== undefined;
    this.currentRoom = page.room;
    this.currentRows = page.rows;
    this.currentCount = page.count;
    this.currentPage = page.page;
    this.currentLimit = page.limit;
    this.currentSeq = page.seq;
    const held = this.held;
    const overflow = this.overflow;
    this._abort();
    if (reload) this.emit({ reason: 'reload', rows: this.currentRows, count: this.currentCount, seq: this.currentSeq });
    for (const frame of held) if (frame.room === page.room) this._frame(frame);
    if (overflow) this.host.refetch(this);
  }

  /** @internal A frame of this list's room. */
  _frame(frame: LiveFrame<T>): void {
    if (this.over) return;
    if (this.awaiting) {
      if (this.held.length < MAX_HELD) this.held.push(frame);
      else this.overflow = true;
      return;
    }
    if (frame.seq <= this.currentSeq) return; // already in the page (it was read after this frame)
    const count = frame.count;
    const valid = frame.seq === this.currentSeq + 1 && Number.isInteger(count) && count >= 0;
    const result = valid ? applyLiveOps(this.currentRows, frame.ops) : undefined;
    if (!result?.ok || result.rows.length !== pageLength(this.currentPage, this.currentLimit, count)) {
      this.host.refetch(this); // a gap, or operations that do not fit: the page is read again
      return;
    }
    this.currentRows = result.rows;
    this.currentCount = count;
    this.currentSeq = frame.seq;
    this.emit({ reason: 'frame', rows: this.currentRows, count, seq: frame.seq, ops: frame.ops, change: frame.change });
  }

  /** @internal A reload was refused: the list is over. */
  _fail(error: BindingClientError): void {
    if (this.over) return;
    this.end(error);
    this.listeners.emit('error', error);
  }

  /** @internal The client closed. */
  _end(): void {
    this.end();
  }

  private emit(change: LiveChange<T>): void {
    this.listeners.emit('change', change);
    this.iterators.put(change);
  }

  private end(error?: BindingClientError): void {
    this.over = true;
    this._forgetHeld(); // but still `awaiting`: the client leaves the room its reply names
    this.iterators.finish(error);
  }
}
