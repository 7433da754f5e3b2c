import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AccessPolicy } from '../auth/access-policy.js';
import { BINDINGS_OPTIONS, type CrudAction } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError } from '../protocol/binding-error.js';
import { isPlainObject } from '../protocol/plain-object.js';
import { invalidReference } from '../protocol/to-binding-error.js';
import {
  andFilters,
  compileMatcher,
  equalityKey,
  filterHash,
  holdsPattern,
  parseFilter,
  parseOrder,
  parseSearch,
  type FilterNode,
  type OrderSpec,
} from '../query/index.js';
import type { BindingDefinition, RelationInclude } from '../registry/binding-definition.js';
import { BindingRegistry } from '../registry/binding.registry.js';
import { filterRoom, instanceRoom } from '../rooms/room-names.js';
import type { RoomSpec } from '../adapters/room-shapes.js';
import { RoomHub } from '../rooms/room-hub.js';
import type { ActionContext } from '../rooms/action-context.js';
import type { Row } from '../rows/entity-change.js';
import { RowSerializer } from '../rows/row-serializer.js';
import { PatternReads } from './pattern-reads.js';
import { RowStore } from '../rows/row-store.js';
import { WriteGate } from './write-gate.js';
import { ChangeCapture } from '../changes/change-capture.js';
import { WriteValidator } from './write-validator.js';
import { LiveLists } from '../live/live-lists.js';
import { liveRoom } from '../live/live-room.js';
import { memoryComparator } from '../live/live-order.js';
import type { LivePageSpec } from '../live/kept-page.js';
import { approximateSize } from '../rooms/memory-budget.js';
import { roomScope } from '../rooms/room-scopes.js';

type Input = Record<string, unknown>;

/**
 * The actions of PROTOCOL.md section 3, written once for every transport. Each reads
 * its input, checks `scope` and `can`, validates, runs, and serializes the reply.
 */
@Injectable()
export class CrudActions {
  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly store: RowStore,
    private readonly serializer: RowSerializer,
    private readonly validator: WriteValidator,
    private readonly policy: AccessPolicy,
    private readonly gate: WriteGate,
    private readonly capture: ChangeCapture,
    private readonly rooms: RoomHub,
    private readonly registry: BindingRegistry,
    private readonly patternReads: PatternReads,
    private readonly live: LiveLists,
  ) {}

  /** The handler of `action` on `binding`, as the dispatcher calls it. */
  handler(binding: BindingDefinition, action: CrudAction): (data: unknown, ctx: ActionContext) => Promise<unknown> {
    return (data, ctx) => this[action](binding, data, ctx);
  }

  async retrieve(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<Row> {
    const input = readInput(data, ['id', 'include'], true);
    const id = this.store.parseId(binding, input.id);
    const include = this.readInclude(binding, input.include);
    const row = await this.visibleRow(binding, id, ctx.user);
    await this.policy.authorize(binding, 'retrieve', ctx.user, row);
    const [reply] = await this.present(binding, [row], include, ctx.user);
    const joining = binding.autoSubscribe.has('retrieve') ? this.autoSubscribe(binding, row, ctx, true) : undefined;
    if (joining) await joining;
    return reply;
  }

  list(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<unknown> {
    return this.page(binding, readInput(data, ['page', 'limit', 'order', 'filter', 'include', 'live'], false), undefined, 'list', ctx, 'list');
  }

  search(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<unknown> {
    const input = readInput(data, ['q', 'page', 'limit', 'order', 'filter', 'include', 'live'], false);
    const q = parseSearch(input.q, binding.fields, binding.searchFields, this.options.limits.filterLimits);
    return this.page(binding, input, q, binding.options.can?.search ? 'search' : 'list', ctx, 'search');
  }

  async create(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<Row> {
    const { values } = await this.validator.check(binding, data, 'create');
    await this.policy.authorize(binding, 'create', ctx.user, values);
    const row = await this.insert(binding, values, ctx);
    if (binding.autoSubscribe.has('create')) await this.autoSubscribe(binding, row, ctx);
    return this.serializer.serialize(binding, row);
  }

  async update(binding: BindingDefinition, data: unknown, ctx: ActionContext, action: 'update' | 'save' = 'update'): Promise<Row> {
    const input = readInput(data, undefined, true);
    const id = this.store.parseId(binding, input.id);
    const checked = await this.validator.check(binding, input, 'update');
    const scope = this.policy.scope(binding, ctx.user);
    const row = await this.authorizedWrite(binding, id, scope, action, ctx.user, async (manager, current) => {
      const version = binding.versionColumn?.propertyName;
      if (version && checked.expectedVersion !== undefined && current[version] !== checked.expectedVersion) {
        throw new BindingError('conflict', `${binding.name} ${id} is at version ${current[version]}, not ${checked.expectedVersion}; reload it`, [
          { field: version, constraint: 'version', message: `${version} is ${current[version]}` },
        ]);
      }
      await this.checkReferences(binding, checked.values, current, ctx.user, manager);
      if (this.capture.hasUpdateListeners(binding)) {
        // Listeners of the application expect the events of a save (TypeORM reads the row again first).
        await manager.save(binding.target, this.store.toEntity(binding, { ...current, ...checked.values }));
        return this.reloadInScope(binding, id, scope, manager);
      }
      // One UPDATE of the changed columns onto the locked row: its new state comes from the row
      // and the values (RETURNING on PostgreSQL), with no other read.
      const written = await this.store.updateRow(binding, manager, current, checked.values);
      if (written === current) return current;
      if (scope && !compileMatcher(scope, binding.allFields, binding.sql.dialect)(written)) throw leavesScope(binding);
      this.capture.recordUpdateOf(manager.queryRunner!, binding, current, written);
      return written;
    });
    if (binding.autoSubscribe.has(action)) await this.autoSubscribe(binding, row, ctx);
    return this.serializer.serialize(binding, row);
  }

  async save(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<Row> {
    if (isPlainObject(data) && data[binding.primary.propertyName] !== undefined) return this.update(binding, data, ctx, 'save');
    const { values } = await this.validator.check(binding, data, 'create');
    await this.policy.authorize(binding, 'save', ctx.user, values);
    const row = await this.insert(binding, values, ctx);
    if (binding.autoSubscribe.has('save')) await this.autoSubscribe(binding, row, ctx);
    return this.serializer.serialize(binding, row);
  }

  async delete(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<{ id: string | number }> {
    const input = readInput(data, ['id'], true);
    const id = this.store.parseId(binding, input.id);
    await this.authorizedWrite(binding, id, this.policy.scope(binding, ctx.user), 'delete', ctx.user, async (manager, current) => {
      const entity = this.store.toEntity(binding, current);
      // Entities with a @DeleteDateColumn are soft-deleted, as TypeORM users expect.
      if (binding.deleteDateColumn) await manager.softRemove(binding.target, entity);
      else await manager.remove(binding.target, entity);
    });
    return { id };
  }

  async subscribe(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<unknown> {
    const subscriber = requireSocket(ctx, 'subscribe');
    const input = readInput(data, ['id', 'filter', 'since'], false);
    const since = input.since;
    if (since !== undefined && !(typeof since === 'number' && Number.isSafeInteger(since) && since >= 0)) {
      throw BindingError.badRequest('since must be a non-negative integer', [
        { field: 'since', constraint: 'min', message: 'since must be a non-negative integer' },
      ]);
    }
    let spec: RoomSpec;
    if (input.id !== undefined) {
      if (input.filter !== undefined) throw BindingError.badRequest('Subscribe to an id or to a filter, not both');
      const id = this.store.parseId(binding, input.id);
      // Subscribing answers exactly as a retrieve would: not_found outside the scope, forbidden when can.retrieve refuses.
      const row = await this.visibleRow(binding, id, ctx.user);
      await this.policy.authorize(binding, 'retrieve', ctx.user, row);
      await this.policy.authorize(binding, 'subscribe', ctx.user, row);
      spec = { name: instanceRoom(binding.stream, id), kind: 'instance', binding };
    } else {
      await this.policy.authorize(binding, 'subscribe', ctx.user, input);
      spec = this.filterSpec(binding, input.filter);
    }
    return this.rooms.subscribe(subscriber, spec, { explicit: true, since: since as number | undefined });
  }

  async unsubscribe(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<{ room: string }> {
    const subscriber = requireSocket(ctx, 'unsubscribe');
    const input = readInput(data, ['id', 'filter', 'room'], false);
    let room: string;
    if (input.room !== undefined) {
      if (
        typeof input.room !== 'string' ||
        !(
          input.room === binding.stream ||
          input.room.startsWith(`${binding.stream}:`) ||
          input.room.startsWith(`${binding.stream}?`) ||
          input.room.startsWith(`${binding.stream}#`)
        )
      ) {
        throw BindingError.badRequest(`room must name a room of ${binding.stream}`);
      }
      room = input.room;
      if (room.startsWith(`${binding.stream}#`)) {
        // A live list (section 9).
        this.live.leave(subscriber, room);
        return { room };
      }
    } else if (input.id !== undefined) {
      room = instanceRoom(binding.stream, this.store.parseId(binding, input.id));
    } else {
      room = this.filterSpec(binding, input.filter).name;
    }
    this.rooms.unsubscribe(subscriber, room);
    return { room };
  }

  private filterSpec(binding: BindingDefinition, input: unknown): RoomSpec {
    const filter = parseFilter(input, binding.filterFields, this.options.limits.filterLimits);
    if (!filter) return { name: binding.stream, kind: 'model', binding };
    return {
      name: filterRoom(binding.stream, filterHash(filter)),
      kind: 'filter',
      binding,
      matches: compileMatcher(filter, binding.allFields, binding.sql.dialect),
      keys: equalityKey(filter, binding.allFields),
      filter: input,
    };
  }

  private async page(
    binding: BindingDefinition,
    input: Input,
    search: FilterNode | undefined,
    action: string,
    ctx: ActionContext,
    kind: 'list' | 'search',
  ): Promise<unknown> {
    const live = readLive(input.live);
    const page = readInteger(input.page, 'page', 1, 1);
    const requested = readInteger(input.limit, 'limit', binding.pageSize, 1);
    const limit = Math.min(requested, binding.maxPageSize);
    const filter = parseFilter(input.filter, binding.filterFields, this.options.limits.filterLimits);
    const order = parseOrder(input.order, binding.orderFields);
    const include = this.readInclude(binding, input.include);
    await this.policy.authorize(binding, action, ctx.user, input);
    const where = andFilters(filter, search, this.policy.scope(binding, ctx.user));
    const offset = (page - 1) * limit;
    if (!Number.isSafeInteger(offset)) throw BindingError.badRequest('page is too large');
    const patterned = holdsPattern(filter) || holdsPattern(search);
    const read = (from: number, size: number) => {
      const find = () => this.store.findPage(binding, where, order, size, from);
      return patterned ? this.patternReads.run(this.caller(ctx), find) : find();
    };
    if (live) {
      const subscriber = requireSocket(ctx, 'A live list');
      const request = { kind, page, limit, order, filter, search, include };
      const caller = this.caller(ctx);
      const spec = this.liveSpec(binding, request, where, ctx.user, input, async (from, size) => {
        // Every read of a live page waits its turn in the fair queue, round-robin by the user who
        // opened the page: however many pages one user holds, a commit never makes the others wait behind all their reads.
        const find = () => this.store.findPage(binding, where, order, size, from);
        const { rows, count } = await this.patternReads.run(caller, find);
        return { count, raw: rows, rows: await this.present(binding, rows, include, ctx.user) };
      });
      return this.live.join(subscriber, spec, ctx);
    }
    const { rows, count } = await read(offset, limit);
    const reply = { page, limit, count, rows: await this.present(binding, rows, include, ctx.user) };
    if (binding.autoSubscribe.has(kind) && ctx.subscriber && (await this.policy.allows(binding, 'subscribe', ctx.user, { filter: input.filter }))) {
      await this.rooms.subscribe(ctx.subscriber, this.filterSpec(binding, input.filter), { explicit: false });
    }
    return reply;
  }

  /**
   * What makes a live page: the request (its room name, the same for every user), and what
   * makes two subscribers' pages equal besides it: the scope of the binding and of each
   * included binding, and the user when an included binding's `can.retrieve` decides which
   * related rows are shown (that answer is per user).
   */
  private liveSpec(
    binding: BindingDefinition,
    request: { kind: 'list' | 'search'; page: number; limit: number; order: OrderSpec; filter?: FilterNode; search?: FilterNode; include: string[] },
    where: FilterNode | undefined,
    user: unknown,
    input: Input,
    read: LivePageSpec['read'],
  ): LivePageSpec {
    const room = liveRoom(binding.stream, request);
    const scope = this.policy.scope(binding, user);
    const parts = [room, filterHash(scope)];
    const includes = new Set<string>();
    const includedScopes = new Map<string, (row: Row) => boolean>();
    for (const name of [...request.include].sort()) {
      const target = binding.includes.get(name)!.target;
      includes.add(target.stream);
      const targetScope = this.policy.scope(target, user);
      if (targetScope) includedScopes.set(target.stream, compileMatcher(targetScope, target.allFields, target.sql.dialect));
      parts.push(filterHash(targetScope));
      if (target.options.can?.retrieve) parts.push(`user:${this.policy.identify(user) ?? ''}`);
    }
    return {
      binding,
      kind: request.kind,
      room,
      key: parts.join('|'),
      page: request.page,
      limit: request.limit,
      offset: (request.page - 1) * request.limit,
      matches: compileMatcher(where, binding.allFields, binding.sql.dialect),
      requires: scope ? roomScope(binding, scope).requires : undefined,
      comparator: request.include.length ? undefined : memoryComparator(binding, request.order),
      includes,
      includedScopes,
      read,
      // Rows kept beyond each edge, so that most rows crossing an edge need no read; none with include (always read).
      reserve: request.include.length ? 0 : request.limit,
      serialize: (row) => this.serializer.serialize(binding, row),
      requestBytes: approximateSize(input),
    };
  }

  /**
   * Authorizes a write of an existing row before its transaction opens, so the
   * application's `can` (possibly slow, async) never holds a transaction open: on SQLite
   * that would make every other statement wait. In the transaction the row is read again
   * and locked; if another write changed it since, `can` is asked again about the new
   * state, outside the transaction, a bounded number of times.
   */
  private async authorizedWrite<T>(
    binding: BindingDefinition,
    id: string | number,
    scope: FilterNode | undefined,
    action: string,
    user: unknown,
    work: (manager: EntityManager, current: Row) => Promise<T>,
  ): Promise<T> {
    // Without a `can` hook for the action there is nothing to ask outside the transaction:
    // the row is read once, locked, inside it.
    let seen = binding.options.can?.[action] ? await this.visibleRow(binding, id, user, scope) : undefined;
    for (let attempt = 1; ; attempt++) {
      if (seen) await this.policy.authorize(binding, action, user, seen);
      const outcome = await this.gate.run(async (manager): Promise<{ done: T } | { changed: Row }> => {
        const current = await this.store.findById(binding, id, scope, manager, true);
        if (!current) throw notFound(binding, id);
        return !seen || sameRow(binding, current, seen) ? { done: await work(manager, current) } : { changed: current };
      });
      if ('done' in outcome) return outcome.done as T;
      if (attempt === AUTHORIZE_ATTEMPTS) {
        throw new BindingError('conflict', `${binding.name} ${id} kept changing while this write was authorized; reload it and retry`);
      }
      seen = outcome.changed;
    }
  }

  /** Who a request is for fairness between callers: the user, or the socket (or all of HTTP) when anonymous. */
  private caller(ctx: ActionContext): unknown {
    if (ctx.user === null || ctx.user === undefined) return ctx.socket ?? 'anonymous';
    try {
      return `user:${this.options.identify(ctx.user)}`;
    } catch {
      return ctx.socket ?? 'anonymous';
    }
  }

  private async insert(binding: BindingDefinition, values: Input, ctx: ActionContext): Promise<Row> {
    return this.gate.run(async (manager) => {
      await this.checkReferences(binding, values, undefined, ctx.user, manager);
      const entity = manager.create(binding.target as any, values) as Record<string, unknown>;
      await manager.save(binding.target, entity);
      return this.reloadInScope(binding, entity[binding.primary.propertyName] as string | number, this.policy.scope(binding, ctx.user), manager);
    });
  }

  /**
   * A key written to name a row of a scoped binding must name a row inside the writer's
   * scope there. Otherwise one tenant could attach its rows to another's (and a delete
   * there would cascade here) and probe which ids exist: such a key answers exactly as a
   * key naming no row. Keys left unchanged by an update are not checked again.
   */
  private async checkReferences(binding: BindingDefinition, values: Input, current: Row | undefined, user: unknown, manager: any): Promise<void> {
    for (const relation of binding.metadata.relations) {
      if (!(relation.isManyToOne || relation.isOneToOneOwner) || relation.joinColumns.length !== 1) continue;
      const join = relation.joinColumns[0];
      const field = binding.metadata.columns.find((c) => !c.isVirtual && c.databaseName === join.databaseName)?.propertyName;
      const value = field === undefined ? undefined : values[field];
      if (value === undefined || value === null || (current && current[field!] === value)) continue;
      const target = this.registry.forTarget(relation.inverseEntityMetadata.target as Function);
      if (!target || join.referencedColumn?.propertyName !== target.primary.propertyName) continue;
      const scope = this.policy.scope(target, user);
      if (!scope) continue;
      const id = typeof value === 'string' || typeof value === 'number' ? value : undefined;
      if (id === undefined || !(await this.store.findById(target, id, scope, manager))) throw invalidReference(field);
    }
  }

  /** The written row, read back in the same transaction; a write that leaves the writer's scope is undone. */
  private async reloadInScope(binding: BindingDefinition, id: string | number, scope: FilterNode | undefined, manager: any): Promise<Row> {
    const row = await this.store.findById(binding, id, scope, manager);
    if (!row) throw leavesScope(binding);
    return row;
  }

  private async visibleRow(binding: BindingDefinition, id: string | number, user: unknown, scope = this.policy.scope(binding, user)): Promise<Row> {
    const row = await this.store.findById(binding, id, scope);
    if (!row) throw notFound(binding, id);
    return row;
  }

  /**
   * Subscribes the socket to the room of `row` after a successful action, under the checks of
   * an explicit `subscribe {id}` (`can.retrieve`, unless the action was that retrieve, and
   * `can.subscribe`). Where they refuse, the action still answers and no subscription is made.
   */
  private autoSubscribe(binding: BindingDefinition, row: Row, ctx: ActionContext, retrieved = false): Promise<unknown> | undefined {
    const subscriber = ctx.subscriber;
    if (!subscriber) return undefined;
    const id = row[binding.primary.propertyName] as string | number;
    const subscribe = (allowed: boolean) =>
      allowed ? this.rooms.subscribeAutomatically(subscriber, { name: instanceRoom(binding.stream, id), kind: 'instance', binding }) : undefined;
    const mayRetrieve = retrieved || this.policy.allowsNow(binding, 'retrieve', ctx.user, row);
    // Hooks that answer synchronously cost no promise here: the common case of every retrieve.
    return whenKnown(mayRetrieve, (allowed) => (allowed ? whenKnown(this.policy.allowsNow(binding, 'subscribe', ctx.user, row), subscribe) : undefined));
  }

  private readInclude(binding: BindingDefinition, include: unknown): string[] {
    if (include === undefined) return [];
    if (!Array.isArray(include) || include.some((name) => typeof name !== 'string' || !binding.relations.has(name))) {
      const allowed = [...binding.relations.keys()];
      throw BindingError.badRequest(`include must be a list of: ${allowed.join(', ') || '(no relations are served)'}`, [
        { field: 'include', constraint: 'relations', message: `allowed: ${allowed.join(', ') || 'none'}` },
      ]);
    }
    return [...new Set(include as string[])];
  }

  /**
   * Serializes rows with the requested relations, each loaded in one query for the whole
   * page. An included row is what a retrieve of it by `user` answers: the related scope is
   * in the query, its can.retrieve is asked per related row, and its own binding serializes
   * it; a refused row is left out (null for a to-one relation, absent from a list).
   */
  private async present(binding: BindingDefinition, rows: Row[], include: string[], user: unknown): Promise<Row[]> {
    if (include.length === 0 || rows.length === 0) return rows.map((row) => this.serializer.serialize(binding, row));
    const pk = binding.primary.propertyName;
    const ids = rows.map((row) => row[pk] as string | number);
    const loaded = new Map<string, Map<string, Row[]>>();
    for (const name of include) loaded.set(name, await this.loadIncluded(binding, binding.includes.get(name)!, ids, user));
    return rows.map((row) => {
      const included = new Map<string, unknown>();
      for (const name of include) {
        const found = loaded.get(name)!.get(String(row[pk])) ?? [];
        included.set(name, binding.includes.get(name)!.many ? found : (found[0] ?? null));
      }
      return this.serializer.serialize(binding, row, included);
    });
  }

  /** The serialized related rows `user` may retrieve, by owner id. */
  private async loadIncluded(owner: BindingDefinition, include: RelationInclude, ownerIds: (string | number)[], user: unknown): Promise<Map<string, Row[]>> {
    const related = include.target;
    // A to-one relation embeds at most one row per owner row; a to-many list is bounded by limits.includeRows.
    const bound = include.many ? this.options.limits.includeRows : undefined;
    const found = await this.store.findIncluded(owner, include, ownerIds, this.policy.scope(related, user), bound === undefined ? undefined : bound + 1);
    if (bound !== undefined && found.length > bound) {
      const message = `include ${include.name} would embed more than ${bound} rows; ask for a smaller page or list ${related.stream} with a filter`;
      throw BindingError.badRequest(message, [{ field: 'include', constraint: 'includeRows', message }]);
    }
    const rpk = related.primary.propertyName;
    // One can.retrieve and one serialize per distinct related row, however many owners share it.
    const distinct = new Map<string, Row>();
    for (const { row } of found) distinct.set(String(row[rpk]), row);
    const allowed = new Map<string, Row>();
    await Promise.all(
      [...distinct].map(async ([key, row]) => {
        if (await this.policy.allows(related, 'retrieve', user, row)) allowed.set(key, this.serializer.serialize(related, row));
      }),
    );
    const byOwner = new Map<string, Row[]>();
    for (const { owner: ownerId, row } of found) {
      const out = allowed.get(String(row[rpk]));
      if (!out) continue;
      const key = String(ownerId);
      const list = byOwner.get(key);
      if (list) list.push(out);
      else byOwner.set(key, [out]);
    }
    return byOwner;
  }
}

/** How often a write re-authorizes a row that other writes keep changing before it answers `conflict`. */
const AUTHORIZE_ATTEMPTS = 3;

/** Whether two reads of a row found the same state (every column). */
function sameRow(binding: BindingDefinition, a: Row, b: Row): boolean {
  return binding.metadata.columns.every(({ propertyName: name }) => {
    const x = a[name];
    const y = b[name];
    if (x instanceof Date && y instanceof Date) return x.getTime() === y.getTime();
    if (x !== null && y !== null && typeof x === 'object' && typeof y === 'object') return JSON.stringify(x) === JSON.stringify(y);
    return x === y;
  });
}

/** A write whose result the writer's scope would not show is undone. No id in the message: on a create it would tell the writer how many rows others made. */
function leavesScope(binding: BindingDefinition): BindingError {
  return new BindingError('forbidden', `This write would leave the ${binding.name} outside your scope; nothing was stored`);
}

function notFound(binding: BindingDefinition, id: string | number): BindingError {
  return new BindingError('not_found', `${binding.name} ${id} not found`);
}

function requireSocket(ctx: ActionContext, action: string) {
  if (!ctx.subscriber) throw BindingError.badRequest(`${action} needs a WebSocket connection; over HTTP, stream pushes with Server-Sent Events`);
  return ctx.subscriber;
}

/** The input object of an action; unknown members are refused so typos do not pass silently. */
function readInput(data: unknown, allowed: readonly string[] | undefined, required: boolean): Input {
  if (data === undefined || data === null) {
    if (required) throw BindingError.badRequest('data must be an object');
    return {};
  }
  if (!isPlainObject(data)) throw BindingError.badRequest('data must be an object');
  if (allowed) {
    const unknown = Object.keys(data).filter((key) => !allowed.includes(key));
    if (unknown.length) {
      throw BindingError.badRequest(
        `Unknown member${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
        unknown.map((field) => ({ field, constraint: 'whitelist', message: `${field} is not accepted here` })),
      );
    }
  }
  return data;
}

/** `live`: absent or a boolean. */
function readLive(value: unknown): boolean {
  if (value === undefined || value === false) return false;
  if (value === true) return true;
  throw BindingError.badRequest('live must be true or false', [{ field: 'live', constraint: 'isBoolean', message: 'live must be a boolean' }]);
}

function readInteger(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined || value === null) return fallback;
  const number = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < min) {
    throw BindingError.badRequest(`${name} must be an integer of at least ${min}`, [
      { field: name, constraint: 'min', message: `${name} must be an integer >= ${min}` },
    ]);
  }
  return number;
}

/** `next(value)` now when `value` is known, after it resolves when it is a promise. */
function whenKnown<T>(value: T | Promise<T>, next: (value: T) => Promise<unknown> | undefined): Promise<unknown> | undefined {
  return value instanceof Promise ? value.then(next) : next(value);
}
