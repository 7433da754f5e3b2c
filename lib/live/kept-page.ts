import type { EntityChange, Row } from '../rows/entity-change.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import type { Subscriber } from '../rooms/subscriber.js';
import { diffPage, type LiveOp } from './live-diff.js';
import { hasStoredTypes, type RowComparator } from './live-order.js';

/** Rows as read from the database: as clients get them, the same rows hydrated (exposed columns), and the count of the whole set. */
export interface PageRead {
  count: number;
  rows: Row[];
  raw: Row[];
}

/** The rows a kept page knows: a contiguous range of the ordered set, from absolute index `start`. */
interface Range {
  start: number;
  raw: Row[];
  rows: Row[];
  count: number;
}

/** What a kept page is: one request of one scope (and, where `can.retrieve` of an included binding decides, one user). */
export interface LivePageSpec {
  binding: BindingDefinition;
  /** `list` or `search`: the frames are `<stream>.<kind>.changed`. */
  kind: 'list' | 'search';
  /** The name clients see (the same for every scope). */
  room: string;
  /** The room and what makes two subscribers' pages equal (scope hashes, and the user where it matters). */
  key: string;
  page: number;
  limit: number;
  offset: number;
  /** The request's filter, `q` and the scope, in memory. */
  matches: (row: Row) => boolean;
  /** A `field = value` the scope requires (a tenant): changes of rows of other values are not offered to the page. */
  requires?: { field: string; value: unknown };
  /** The page's order in memory; undefined when it cannot be evaluated there (then every change re-reads). */
  comparator?: RowComparator;
  /** Streams of the included bindings: any change of theirs re-reads the page. */
  includes: ReadonlySet<string>;
  /**
   * Per included stream, its binding's scope for the page's users in memory: a change of a row
   * outside it (another tenant's) can show in no included row, so it neither reads the page
   * again nor lends the page's next frame its change id. Absent: every change of the stream counts.
   */
  includedScopes?: ReadonlyMap<string, (row: Row) => boolean>;
  /** Reads `limit` rows from `offset` of the request's ordered set, as a fresh `list` by the first subscriber would, and the count. */
  read: (offset: number, limit: number) => Promise<PageRead>;
  /** Rows kept beyond each edge of the page, so that rows crossing an edge need no read (0 with `include`). */
  reserve: number;
  /** One row as it leaves the server (no include: in-memory updates are only made without). */
  serialize: (row: Row) => Row;
  /** Estimated bytes of the request itself. */
  requestBytes: number;
}

/** What the page asks of the live lists that keep it. */
export interface PageHost {
  /** The frame of one change of the page. */
  frame(page: KeptPage, change: string, ops: LiveOp[]): string;
  /** The page's estimated bytes changed. */
  resized(page: KeptPage, bytes: number): void;
  /** A read failed (the page is read again later). */
  failed(page: KeptPage, error: unknown): void;
}

/** How long a failed read waits before it is tried again, at most. */
const MAX_RETRY_MS = 30_000;

/**
 * One page kept current for every subscriber of the same request and scope. Changes are
 * handled one commit at a time, in the order they arrive: applied in memory when that is
 * exact (see `applyInMemory`), otherwise by reading the page again. Reads are serialized:
 * commits that arrive while a read runs are covered by one more read after it, and changes
 * captured before the last read ended are never applied in memory (that read may already
 * hold them). Each commit that altered the rows or the count sends one frame with the
 * next `seq`.
 *
 * The page keeps `reserve` rows beyond each of its edges (a contiguous range of the ordered
 * set): a row leaving the page is replaced from the rows after it, a row entering before
 * a page > 1 pushes the last row before it in, without a read, until the reserve runs out.
 */
export class KeptPage {
  count = 0;
  seq = 0;
  bytes = 0;
  /** Subscribers, with the frames held back until their page has been answered. */
  readonly members = new Map<Subscriber, { held?: string[] }>();
  /** Set once no member is left: nothing more is read or sent. */
  closed = false;
  /** Reads of this page so far, for statistics and tests. */
  reads = 0;
  /** The first read: subscribers arriving meanwhile wait for it. */
  loaded?: Promise<void>;
  /** Absolute index (in the ordered set) of the first kept row. */
  private start = 0;
  /** The kept rows, as sent and hydrated. */
  private kept: Row[] = [];
  private raw: Row[] = [];
  private reading?: Promise<void>;
  private again = false;
  private readEndedAt = -Infinity;
  private lastChange = '';
  private retryMs = 0;
  private readonly pk: string;
  private readonly deleteDate?: string;

  constructor(
    readonly spec: LivePageSpec,
    private readonly host: PageHost,
  ) {
    this.pk = spec.binding.primary.propertyName;
    this.deleteDate = spec.binding.deleteDateColumn?.propertyName;
  }

  /** The page's rows as clients hold them. */
  get rows(): Row[] {
    const from = this.spec.offset - this.start;
    return this.kept.slice(from, from + this.spec.limit);
  }

  /** The first read; rejects when it fails (the request that created the page gets the error). */
  load(): Promise<void> {
    const first = (this.loaded = this.readRange().then((range) => this.set(range)));
    this.reading = first.then(
      () => this.settle(),
      () => undefined,
    );
    return first;
  }

  /** What a subscriber joining now is answered with: frames after it continue from `seq`. */
  snapshot(): { page: number; limit: number; count: number; rows: Row[]; room: string; seq: number } {
    return { page: this.spec.page, limit: this.spec.limit, count: this.count, rows: this.rows, room: this.spec.room, seq: this.seq };
  }

  /** Whether this page waits for its first read or a re-read. */
  get busy(): boolean {
    return this.reading !== undefined;
  }

  /** One commit (of this instance when `local`): updates the page and sends a frame when it changed. */
  consider(changes: readonly EntityChange[], local: boolean): void {
    if (this.closed) return;
    const relevant = changes.filter((change) => this.touches(change));
    if (relevant.length === 0) return;
    this.lastChange = relevant[relevant.length - 1].changeId ?? this.lastChange;
    if (this.reading) {
      this.again = true;
      return;
    }
    if (local && relevant.every((change) => (change.recordedAt ?? -Infinity) > this.readEndedAt)) {
      let next: Range | 'read';
      try {
        next = this.applyInMemory(relevant);
      } catch {
        next = 'read'; // the serialize hook threw (logged): the read answers as a fresh list would
      }
      if (next !== 'read' && this.replaced(next)) return;
    }
    this.reread();
  }

  /** Whether a change may alter this page or its count: its row was or is in the request's set, or an included binding changed. */
  touches(change: EntityChange): boolean {
    const stream = change.binding.stream;
    if (this.spec.includes.has(stream)) {
      const inScope = this.spec.includedScopes?.get(stream);
      return !inScope || (!!change.before && inScope(change.before)) || (!!change.after && inScope(change.after));
    }
    if (stream !== this.spec.binding.stream) return false;
    return (!!change.before && this.inSet(change.before)) || (!!change.after && this.inSet(change.after));
  }

  /** Estimated bytes: the request, and the kept rows twice (as sent and hydrated), counted as a full range of rows this size. */
  estimate(kept: readonly Row[] = this.kept): number {
    let largest = 256;
    for (const row of kept) largest = Math.max(largest, JSON.stringify(row).length);
    const rows = Math.max(this.spec.limit + 2 * this.spec.reserve, kept.length);
    return 1024 + this.spec.requestBytes + 2 * this.spec.room.length + 2 * 2 * largest * rows;
  }

  private inSet(row: Row): boolean {
    if (this.deleteDate && row[this.deleteDate] !== null && row[this.deleteDate] !== undefined) return false;
    return this.spec.matches(row);
  }

  /** One query: the page and `reserve` rows on each side of it, with the count. */
  private async readRange(): Promise<Range> {
    const { offset, limit, reserve } = this.spec;
    const start = Math.max(0, offset - reserve);
    const read = await this.spec.read(start, offset - start + limit + reserve);
    this.readEndedAt = performance.now();
    this.reads++;
    return { start, raw: read.raw, rows: read.rows, count: read.count };
  }

  private reread(): void {
    this.again = true;
    this.reading = this.readUntilCurrent().finally(() => (this.reading = undefined));
  }

  private async readUntilCurrent(): Promise<void> {
    while (this.again && !this.closed) {
      this.again = false;
      let range: Range;
      try {
        range = await this.readRange();
      } catch (error) {
        this.host.failed(this, error);
        await this.backOff();
        continue;
      }
      if (!this.closed && !this.replaced(range)) {
        await this.backOff();
        continue;
      }
      this.retryMs = 0;
    }
  }

  /** Waits longer after each failure in a row (1 s doubling, at most MAX_RETRY_MS), then reads again. */
  private async backOff(): Promise<void> {
    this.retryMs = Math.min(MAX_RETRY_MS, Math.max(1000, this.retryMs * 2));
    await new Promise((resolve) => setTimeout(resolve, this.retryMs).unref());
    this.again = true;
  }

  /** After the first read: commits that arrived meanwhile are read again. */
  private async settle(): Promise<void> {
    await this.readUntilCurrent();
    this.reading = undefined;
  }

  /**
   * {@link replace}, or false when the rows cannot be sent (a serialize hook answered what
   * JSON cannot write): logged, the page unchanged, read again later. A throw here would
   * otherwise reject a promise nobody awaits and stop the process.
   */
  private replaced(next: Range): boolean {
    try {
      this.replace(next);
      return true;
    } catch (error) {
      this.host.failed(this, error);
      return false;
    }
  }

  /** Takes a new range, and sends the ops from the old page to the new one when anything changed. */
  private replace(next: Range): void {
    const before = this.rows;
    const count = this.count;
    this.set(next);
    const ops = diffPage(before, this.rows, (row) => String(row[this.pk]));
    if (ops.length > 0 || this.count !== count) this.send(ops);
  }

  private set(range: Range): void {
    // First, as it throws for rows JSON cannot write: the page is then left as it was.
    const bytes = this.estimate(range.rows);
    this.start = range.start;
    this.kept = range.rows;
    this.raw = range.raw;
    this.count = range.count;
    this.host.resized(this, bytes);
  }

  private send(ops: LiveOp[]): void {
    this.seq++;
    const frame = this.host.frame(this, this.lastChange, ops);
    const bytes = Buffer.from(frame);
    for (const [subscriber, member] of this.members) {
      if (member.held) member.held.push(frame);
      else subscriber.send(frame, bytes);
    }
  }

  /**
   * The range after `changes`, computed from the kept rows alone, or 'read' when the page
   * would not be exact. The kept rows are a contiguous range of the ordered set, so each
   * change is placed by comparing it with them (live-order: numbers, dates, booleans; a
   * string or NULL among the compared values gives 'read'):
   * - a row leaving the set is taken out of the range, or counted before or after it;
   * - a row entering is put between the kept rows it sorts between; one that sorts after
   *   the last kept row while rows follow the range leaves the range as it is; one that
   *   sorts before the first kept row of a range that does not start the set may be
   *   before it or at its start, so the range forgets its first position instead (in both
   *   cases every kept row moved one place down);
   * - an update is a leave and an enter.
   * The page is exact while the range still covers it. Pages with `include` always read.
   */
  private applyInMemory(changes: readonly EntityChange[]): Range | 'read' {
    const cmp = this.spec.comparator;
    if (!cmp || this.spec.includes.size > 0) return 'read';
    const range: Range = { start: this.start, raw: [...this.raw], rows: [...this.kept], count: this.count };
    for (const change of changes) {
      const was = !!change.before && this.inSet(change.before);
      const is = !!change.after && this.inSet(change.after);
      if (!was && !is) continue;
      const id = String(change.id);
      const at = range.raw.findIndex((row) => String(row[this.pk]) === id);
      if (at >= 0) {
        if (!was) return 'read'; // the kept rows and the change disagree
        range.raw.splice(at, 1);
        range.rows.splice(at, 1);
        range.count--;
      } else if (was) {
        const side = this.side(range, change.before!, cmp);
        if (side === undefined) return 'read';
        if (side === 'before') range.start--;
        range.count--;
      }
      if (is && !this.enter(range, change.after!, cmp)) return 'read';
    }
    this.trim(range);
    const { offset, limit } = this.spec;
    const covered = range.start <= offset && range.start + range.raw.length >= Math.min(offset + limit, range.count);
    return covered ? range : 'read';
  }

  /** Puts a row entering the set into the range (see applyInMemory); false when that cannot be done exactly. */
  private enter(range: Range, row: Row, cmp: RowComparator): boolean {
    const following = range.count - range.start - range.raw.length; // rows of the set after the range
    let p = 0;
    for (; p < range.raw.length; p++) {
      const c = cmp(range.raw[p], row);
      if (c === undefined) return false;
      if (c > 0) break;
    }
    range.count++;
    if (range.raw.length === 0) {
      // Nothing kept to compare with: exact only when the set was empty.
      if (range.start !== 0 || following !== 0) return false;
    } else if (p === 0 && range.start > 0) {
      range.start++;
      return true;
    } else if (p === range.raw.length && following > 0) {
      return true;
    }
    if (!hasStoredTypes(this.spec.binding, row)) return false;
    const kept: Row = {};
    for (const name of this.spec.binding.fields.keys()) kept[name] = row[name];
    range.raw.splice(p, 0, kept);
    range.rows.splice(p, 0, this.spec.serialize(row));
    return true;
  }

  /** Where a row of the set that is not kept sorts: before or after the range; undefined when unknown or inconsistent. */
  private side(range: Range, row: Row, cmp: RowComparator): 'before' | 'after' | undefined {
    if (range.raw.length === 0) return undefined;
    const first = cmp(row, range.raw[0]);
    if (first === undefined) return undefined;
    if (first < 0) return range.start > 0 ? 'before' : undefined;
    const last = cmp(row, range.raw[range.raw.length - 1]);
    const following = range.count - range.start - range.raw.length;
    return last !== undefined && last > 0 && following > 0 ? 'after' : undefined;
  }

  /** Keeps at most `reserve` rows beyond each edge of the page. */
  private trim(range: Range): void {
    const { offset, limit, reserve } = this.spec;
    const front = Math.max(0, offset - reserve - range.start);
    if (front > 0) {
      range.raw.splice(0, front);
      range.rows.splice(0, front);
      range.start += front;
    }
    const end = Math.max(0, offset + limit + reserve - range.start);
    if (range.raw.length > end) {
      range.raw.length = end;
      range.rows.length = end;
    }
  }
}
