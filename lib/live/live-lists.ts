import { Inject, Injectable, Logger } from '@nestjs/common';
import { AccessPolicy } from '../auth/access-policy.js';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError } from '../protocol/binding-error.js';
import { FrameCodec } from '../protocol/frame-codec.js';
import type { ActionContext } from '../rooms/action-context.js';
import { MEMBER_BYTES } from '../rooms/memory-budget.js';
import { RoomHub } from '../rooms/room-hub.js';
import type { Subscriber } from '../rooms/subscriber.js';
import type { EntityChange } from '../rows/entity-change.js';
import { hookMessage } from '../protocol/hook-message.js';
import type { LiveOp } from './live-diff.js';
import { KeptPage, type LivePageSpec, type PageHost } from './kept-page.js';
import { StreamPages } from './page-index.js';

/** What a live `list`/`search` answers: the page, its room and its current seq. */
export interface LiveSnapshot {
  page: number;
  limit: number;
  count: number;
  rows: Record<string, unknown>[];
  room: string;
  seq: number;
}

/**
 * Live lists (PROTOCOL.md section 9): pages kept current for the sockets that hold them.
 * Subscribers with the same request and equal scopes share one {@link KeptPage}; each
 * commit is offered to the pages of the streams it changed, so a change costs work per
 * distinct page, never per subscriber. Every page a socket holds counts toward
 * `limits.liveLists` and `subscriptionsPerSocket`, and charges its user an estimate of the
 * page's bytes (`limits.liveListBytesPerUser`); the pages themselves are counted once in
 * `liveListBytesTotal`.
 */
@Injectable()
export class LiveLists implements PageHost {
  private readonly logger = new Logger('BindingsModule');
  private readonly pages = new Map<string, KeptPage>();
  /** Pages by the streams whose changes they must see (their own, and those of their includes). */
  private readonly byStream = new Map<string, StreamPages>();
  /** Per socket: its pages by room name, and what each charged its user. */
  private readonly held = new WeakMap<Subscriber, Map<string, { page: KeptPage; charged: number }>>();

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly rooms: RoomHub,
    private readonly policy: AccessPolicy,
    private readonly codec: FrameCodec,
  ) {
    rooms.onCommit((changes, local) => this.committed(changes, local));
    rooms.onClose((subscriber) => this.leaveAll(subscriber));
  }

  private get budget() {
    return this.rooms.memory.liveLists;
  }

  /**
   * Holds the page of `spec` for `subscriber` and answers it. The same request again on the
   * same socket answers the current page of the same room, held once. When the transport
   * says when the reply went out (`ctx.afterReply`), frames wait until then.
   */
  async join(subscriber: Subscriber, spec: LivePageSpec, ctx: ActionContext): Promise<LiveSnapshot> {
    const already = this.held.get(subscriber)?.get(spec.room);
    if (already) return this.again(subscriber, already.page, ctx);
    let page = this.pages.get(spec.key);
    if (!page) {
      if (!this.budget.fitsTotal(1024 + spec.requestBytes)) throw this.budget.refusal(`at most ${this.budget.total} bytes for all users`);
      page = new KeptPage(spec, this);
      this.add(page);
      try {
        await page.load();
      } catch (error) {
        this.drop(page);
        throw error;
      }
    } else if (page.loaded) {
      await page.loaded.catch(() => undefined);
      // Its creator failed or left meanwhile: start over with a page of our own.
      if (page.closed) return this.join(subscriber, spec, ctx);
    }
    try {
      return this.hold(subscriber, page, ctx);
    } finally {
      if (page.members.size === 0) this.drop(page);
    }
  }

  /** Ends the live list `room` of `subscriber`; false when it held none of that name. */
  leave(subscriber: Subscriber, room: string): boolean {
    const mine = this.held.get(subscriber);
    const entry = mine?.get(room);
    if (!entry) return false;
    mine!.delete(room);
    subscriber.liveLists--;
    entry.page.members.delete(subscriber);
    this.budget.release(this.userKey(subscriber), entry.charged, MEMBER_BYTES);
    if (entry.page.members.size === 0) this.drop(entry.page);
    return true;
  }

  /** A socket closed: every live list it held ends. */
  leaveAll(subscriber: Subscriber): void {
    for (const room of [...(this.held.get(subscriber)?.keys() ?? [])]) this.leave(subscriber, room);
  }

  /** Pages a commit was offered to, since start (each matched in memory). */
  private offered = 0;

  /** Kept pages and their members, reads, and how many pages commits were offered to, for statistics and tests. */
  stats(): { pages: number; members: number; reads: number; offered: number } {
    let members = 0;
    let reads = 0;
    for (const page of this.pages.values()) {
      members += page.members.size;
      reads += page.reads;
    }
    return { pages: this.pages.size, members, reads, offered: this.offered };
  }

  /** Whether no page is being read (tests wait for this before comparing with fresh lists). */
  idle(): boolean {
    for (const page of this.pages.values()) if (page.busy) return false;
    return true;
  }

  frame(page: KeptPage, change: string, ops: LiveOp[]): string {
    const { binding, kind, room } = page.spec;
    const head = this.codec.pushHead(`${binding.stream}.${kind}.changed`);
    return `${head},"room":${JSON.stringify(room)},"seq":${page.seq},"change":${JSON.stringify(change)},"count":${page.count},"ops":${JSON.stringify(ops)}}`;
  }

  resized(page: KeptPage, bytes: number): void {
    if (page.closed) return;
    if (bytes > page.bytes) this.budget.add(undefined, 0, bytes - page.bytes);
    else this.budget.release(undefined, 0, page.bytes - bytes);
    page.bytes = bytes;
    // Each member was charged the page's estimate when it joined: rows that grew since (any
    // writer may make them larger) are charged to its user too, and a user they would put over
    // its bound loses this list, told by an error frame naming the room.
    for (const [subscriber, member] of [...page.members]) {
      const entry = this.held.get(subscriber)?.get(page.spec.room);
      if (!entry || entry.page !== page || bytes <= entry.charged) continue;
      const key = this.userKey(subscriber);
      if (this.budget.fitsUser(key, bytes - entry.charged)) {
        this.budget.add(key, bytes - entry.charged, 0);
        entry.charged = bytes;
        continue;
      }
      const frame = this.ended(page, this.budget.refusal(`at most ${this.budget.perUser} bytes per user`));
      if (member.held) member.held.push(frame);
      else subscriber.send(frame);
      this.leave(subscriber, page.spec.room);
    }
  }

  /** The frame that ends a live list: its event and room, and the error why. */
  private ended(page: KeptPage, error: BindingError): string {
    const { binding, kind, room } = page.spec;
    return `${this.codec.pushHead(`${binding.stream}.${kind}.changed`)},"room":${JSON.stringify(room)},"error":${JSON.stringify(error)}}`;
  }

  failed(page: KeptPage, error: unknown): void {
    const why = error instanceof BindingError ? error.message : hookMessage(error);
    this.logger.error(`The live list ${page.spec.room} could not be read again (tried again later): ${why}`);
  }

  private hold(subscriber: Subscriber, page: KeptPage, ctx: ActionContext): LiveSnapshot {
    const snapshot = page.snapshot();
    // Closed while its request awaited: nobody would ever release it.
    if (subscriber.gone) return snapshot;
    let mine = this.held.get(subscriber);
    const twice = mine?.get(page.spec.room);
    if (twice) return this.again(subscriber, twice.page, ctx); // the same request, sent twice at once
    const limit = this.options.limits.liveLists;
    if ((mine?.size ?? 0) >= limit) throw BindingError.badRequest(`A socket may hold at most ${limit} live lists; unsubscribe one first`);
    if (!this.rooms.makeRoom(subscriber)) {
      throw BindingError.badRequest(`A socket may hold at most ${this.options.limits.subscriptionsPerSocket} subscriptions; unsubscribe first`);
    }
    const key = this.userKey(subscriber);
    const charged = page.estimate();
    if (!this.budget.fitsUser(key, charged)) throw this.budget.refusal(`at most ${this.budget.perUser} bytes per user`);
    if (!this.budget.fitsTotal(MEMBER_BYTES)) throw this.budget.refusal(`at most ${this.budget.total} bytes for all users`);
    this.budget.add(key, charged, MEMBER_BYTES);
    if (!mine) this.held.set(subscriber, (mine = new Map()));
    mine.set(page.spec.room, { page, charged });
    subscriber.liveLists++;
    const member: { held?: string[] } = {};
    page.members.set(subscriber, member);
    this.holdUntilReplied(subscriber, page, member, ctx, true);
    return snapshot;
  }

  /** The same request again on a socket that holds it: the current page, and frames after it wait for this reply too. */
  private again(subscriber: Subscriber, page: KeptPage, ctx: ActionContext): LiveSnapshot {
    const member = page.members.get(subscriber);
    if (member) this.holdUntilReplied(subscriber, page, member, ctx, false);
    return page.snapshot();
  }

  /**
   * Frames of the page wait until the reply that answered its snapshot went out, when the
   * transport says when that is. A new membership whose reply could not be sent ends.
   */
  private holdUntilReplied(subscriber: Subscriber, page: KeptPage, member: { held?: string[] }, ctx: ActionContext, joined: boolean): void {
    if (!ctx.afterReply || member.held) return;
    const held: string[] = (member.held = []);
    ctx.afterReply.push((sent) => {
      member.held = undefined;
      if (!sent && joined) return void this.leave(subscriber, page.spec.room);
      for (const frame of held) subscriber.send(frame);
    });
  }

  private committed(changes: readonly EntityChange[], local: boolean): void {
    const pages = new Set<KeptPage>();
    for (const change of changes) this.byStream.get(change.binding.stream)?.collect(change, pages);
    this.offered += pages.size;
    for (const page of pages) {
      try {
        page.consider(changes, local);
      } catch (error) {
        this.logger.error(`The live list ${page.spec.room} could not take a change: ${(error as Error)?.stack ?? error}`);
      }
    }
  }

  private add(page: KeptPage): void {
    this.pages.set(page.spec.key, page);
    for (const stream of [page.spec.binding.stream, ...page.spec.includes]) {
      let set = this.byStream.get(stream);
      if (!set) this.byStream.set(stream, (set = new StreamPages()));
      // By its scope's value on its own stream; any change of an included stream may touch it.
      set.add(page, stream === page.spec.binding.stream && !page.spec.includes.has(stream));
    }
  }

  private drop(page: KeptPage): void {
    if (this.pages.get(page.spec.key) !== page) return;
    page.closed = true;
    this.pages.delete(page.spec.key);
    for (const stream of [page.spec.binding.stream, ...page.spec.includes]) {
      const set = this.byStream.get(stream);
      set?.delete(page, stream === page.spec.binding.stream && !page.spec.includes.has(stream));
      if (set?.size === 0) this.byStream.delete(stream);
    }
    this.budget.release(undefined, 0, page.bytes);
  }

  /** Whom a page is charged to: the user's name, or the socket itself when anonymous. */
  private userKey(subscriber: Subscriber): unknown {
    return this.policy.identify(subscriber.user) ?? subscriber;
  }
}
