import type { EntityChange } from '../rows/entity-change.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import type { Subscriber } from '../rooms/subscriber.js';
import { diffPage, type LiveOp } from './live-diff.js';
import { hasStoredTypes, type RowComparator } from './live-order.js';

type Row = Record<string, unknown>;

/** A page as read from the database: the rows as clients get them, the same rows hydrated (exposed columns), the count. */
export interface PageRead {
  count: number;
  rows: Row[];
  raw: Row[];
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
  /** The page's order in memory; undefined when it cannot be evaluated there (then every change re-reads). */
  comparator?: RowComparator;
  /** Streams of the included bindings: any change of theirs re-reads the page. */
  includes: ReadonlySet<string>;
  /** Reads the page as a fresh `list` by the first subscriber would. */
  read: () => Promise<PageRead>;
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
 * handled one commit at a time, in the order they arrive: applied to the kept rows in
 * memory when that is exact (see `applyInMemory`), otherwise by reading the page again.
 * Reads are serialized: commits that arrive while a read runs are covered by one more
 * read after it, and changes captured before the last read ended are never applied in
 * memory (that read may already hold them). Each commit that altered the rows or the
 * count sends one frame with the next `seq`.
 */
export class KeptPage {
  rows: Row[] = [];
  private raw: Row[] = [];
  count = 0;
  seq = 0;
  bytes = 0;
  /** Subscribers, with the frames held back until their page has been answered. */
  readonly members = new Map<Subscriber, { held?: string[] }>();
  /** Set once no member is left: nothing more is read or sent. */
  closed = false;
  /** Reads of this page so far, for statistics and tests. */
  reads = 0;
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

  /** The first read: subscribers arriving meanwhile wait for it. */
  loaded?: Promise<void>;

  /** The first read; rejects when it fails (the request that created the page gets the error). */
  load(): Promise<void> {
    const first = (this.loaded = this.spec.read().then((read) => {
      this.readEndedAt = performance.now();
      this.reads++;
      this.set(read);
    }));
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
      let next: ReturnType<KeptPage['applyInMemory']>;
      try {
        next = this.applyInMemory(relevant);
      } catch {
        next = 'read'; // the serialize hook threw (logged): the read answers as a fresh list would
      }
      if (next === 'unchanged') return;
      if (next !== 'read') return this.replace(next);
    }
    this.reread();
  }

  /** Whether a change may alter this page or its count: its row was or is in the request's set, or an included binding changed. */
  touches(change: EntityChange): boolean {
    const stream = change.binding.stream;
    if (this.spec.includes.has(stream)) return true;
    if (stream !== this.spec.binding.stream) return false;
    return (!!change.before && this.inSet(change.before)) || (!!change.after && this.inSet(change.after));
  }

  private inSet(row: Row): boolean {
    if (this.deleteDate && row[this.deleteDate] !== null && row[this.deleteDate] !== undefined) return false;
    return this.spec.matches(row);
  }

  private reread(): void {
    this.again = true;
    this.reading = this.readUntilCurrent().finally(() => (this.reading = undefined));
  }

  private async readUntilCurrent(): Promise<void> {
    while (this.again && !this.closed) {
      this.again = false;
      let read: PageRead;
      try {
        read = await this.spec.read();
      } catch (error) {
        this.host.failed(this, error);
        this.retryMs = Math.min(MAX_RETRY_MS, Math.max(1000, this.retryMs * 2));
        await new Promise((resolve) => setTimeout(resolve, this.retryMs).unref());
        this.again = true;
        continue;
      }
      this.retryMs = 0;
      this.reads++;
      this.readEndedAt = performance.now();
      if (!this.closed) this.replace(read);
    }
  }

  /** After the first read: commits that arrived meanwhile are read again. */
  private async settle(): Promise<void> {
    await this.readUntilCurrent();
    this.reading = undefined;
  }

  /** Takes a new state of the page, and sends the ops from the old one when anything changed. */
  private replace(next: PageRead): void {
    const ops = diffPage(this.rows, next.rows, (row) => String(row[this.pk]));
    const changed = ops.length > 0 || next.count !== this.count;
    this.set(next);
    if (changed) this.send(ops);
  }

  private set(next: PageRead): void {
    this.rows = next.rows;
    this.raw = next.raw;
    this.count = next.count;
    this.host.resized(this, this.estimate());
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

  /** Estimated bytes: the request, and the rows twice (as sent and hydrated), with room for a full page of rows this size. */
  estimate(): number {
    let largest = 256;
    for (const row of this.rows) largest = Math.max(largest, JSON.stringify(row).length);
    return 1024 + this.spec.requestBytes + 2 * this.spec.room.length + 2 * 2 * largest * Math.max(this.spec.limit, this.rows.length);
  }

  /**
   * The page after `changes`, computed from the kept rows alone, or 'read' when that is not
   * exact. It is exact when the order can be compared in memory (no string or NULL among
   * the compared values, see live-order) and each change stays within what the page
   * knows: a row updated inside the page that stays between its neighbours, a row entering
   * between two rows of the page (or at its top on page 1, or at its end when no row
   * follows the page), a row leaving the page when no row follows it, a row leaving or
   * entering after a full page (the count alone changes). A row that enters or leaves
   * before the page, or leaves a page that has rows after it, shifts rows across its
   * edges: the page is read again. Pages with `include` are always read again.
   */
  private applyInMemory(changes: readonly EntityChange[]): PageRead | 'read' | 'unchanged' {
    const cmp = this.spec.comparator;
    if (!cmp || this.spec.includes.size > 0) return 'read';
    const { offset } = this.spec;
    const raw = [...this.raw];
    const rows = [...this.rows];
    let count = this.count;
    for (const change of changes) {
      const was = !!change.before && this.inSet(change.before);
      const is = !!change.after && this.inSet(change.after);
      const id = String(change.id);
      const at = raw.findIndex((row) => String(row[this.pk]) === id);
      if (at >= 0) {
        if (!was) return 'read'; // the kept page and the change disagree
        const after = count - offset - raw.length;
        raw.splice(at, 1);
        rows.splice(at, 1);
        if (!is) {
          if (after > 0) return 'read'; // the next row must come up from the following page
          count--;
          continue;
        }
        if (!this.place(raw, rows, change.after!, after, cmp)) return 'read';
        continue;
      }
      if (was) {
        const side = this.side(raw, change.before!, cmp);
        if (side === undefined || (side === 'before' && raw.length > 0)) return 'read';
        count--;
      }
      if (is) {
        const after = Math.max(0, count - offset - raw.length);
        count++;
        if (!this.place(raw, rows, change.after!, after, cmp)) return 'read';
      }
    }
    if (count === this.count && JSON.stringify(rows) === JSON.stringify(this.rows)) return 'unchanged';
    return { rows, raw, count };
  }

  /**
   * Puts a row of the set into the page where the order says, when the page knows that
   * place: false when the row could belong before the page (offset > 0) or after its last
   * row while `after` rows follow the page. A row after a full page changes nothing here.
   */
  private place(raw: Row[], rows: Row[], row: Row, after: number, cmp: RowComparator): boolean {
    let p = 0;
    for (; p < raw.length; p++) {
      const c = cmp(raw[p], row);
      if (c === undefined) return false;
      if (c > 0) break;
    }
    if (p === 0 && this.spec.offset > 0) return false;
    if (p === raw.length) {
      if (raw.length >= this.spec.limit) return true; // after a full page: only the count changes
      if (after > 0) return false;
    }
    if (!hasStoredTypes(this.spec.binding, row)) return false;
    const kept: Row = {};
    for (const name of this.spec.binding.fields.keys()) kept[name] = row[name];
    raw.splice(p, 0, kept);
    rows.splice(p, 0, this.spec.serialize(row));
    if (raw.length > this.spec.limit) {
      raw.pop();
      rows.pop();
    }
    return true;
  }

  /** Where a row of the set that is not in the page sorts: before or after it; undefined when unknown or inconsistent. */
  private side(raw: Row[], row: Row, cmp: RowComparator): 'before' | 'after' | undefined {
    if (raw.length === 0) return this.spec.offset > 0 ? 'before' : undefined;
    const first = cmp(row, raw[0]);
    if (first === undefined) return undefined;
    if (first < 0) return this.spec.offset > 0 ? 'before' : undefined;
    const last = cmp(row, raw[raw.length - 1]);
    // Rows follow only a full page.
    return last !== undefined && last > 0 && raw.length >= this.spec.limit ? 'after' : undefined;
  }
}
