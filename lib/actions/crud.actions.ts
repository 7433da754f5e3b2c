import { Inject, Injectable } from '@nestjs/common';
import { In } from 'typeorm';
import { AccessPolicy } from '../auth/access-policy.js';
import { BINDINGS_OPTIONS, type CrudAction } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError } from '../protocol/binding-error.js';
import { isPlainObject } from '../protocol/plain-object.js';
import { andFilters, compileMatcher, filterHash, holdsPattern, parseFilter, parseOrder, parseSearch, type FilterNode } from '../query/index.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import { filterRoom, instanceRoom } from '../rooms/room-names.js';
import { RoomHub, type RoomSpec } from '../rooms/room-hub.js';
import type { ActionContext } from './action-context.js';
import { RowSerializer, type Row } from './row-serializer.js';
import { PatternReads } from './pattern-reads.js';
import { RowStore } from './row-store.js';
import { WriteGate } from './write-gate.js';
import { WriteValidator } from './write-validator.js';

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
    private readonly rooms: RoomHub,
    private readonly patternReads: PatternReads,
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
    const [reply] = await this.present(binding, [row], include);
    if (binding.autoSubscribe.has('retrieve')) await this.autoSubscribe(binding, id, ctx);
    return reply;
  }

  list(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<unknown> {
    return this.page(binding, readInput(data, ['page', 'limit', 'order', 'filter', 'include'], false), undefined, 'list', ctx);
  }

  search(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<unknown> {
    const input = readInput(data, ['q', 'page', 'limit', 'order', 'filter', 'include'], false);
    const q = parseSearch(input.q, binding.fields, binding.searchFields, this.options.limits.filterLimits);
    return this.page(binding, input, q, binding.options.can?.search ? 'search' : 'list', ctx);
  }

  async create(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<Row> {
    const { values } = await this.validator.check(binding, data, 'create');
    await this.policy.authorize(binding, 'create', ctx.user, values);
    const row = await this.insert(binding, values, ctx);
    if (binding.autoSubscribe.has('create')) await this.autoSubscribe(binding, row[binding.primary.propertyName] as string | number, ctx);
    return this.serializer.serialize(binding, row);
  }

  async update(binding: BindingDefinition, data: unknown, ctx: ActionContext, action: 'update' | 'save' = 'update'): Promise<Row> {
    const input = readInput(data, undefined, true);
    const id = this.store.parseId(binding, input.id);
    const checked = await this.validator.check(binding, input, 'update');
    const row = await this.gate.run(async (manager) => {
      const scope = this.policy.scope(binding, ctx.user);
      const current = await this.store.findById(binding, id, scope, manager, true);
      if (!current) throw notFound(binding, id);
      await this.policy.authorize(binding, action, ctx.user, current);
      const version = binding.versionColumn?.propertyName;
      if (version && checked.expectedVersion !== undefined && current[version] !== checked.expectedVersion) {
        throw new BindingError('conflict', `${binding.name} ${id} is at version ${current[version]}, not ${checked.expectedVersion}; reload it`, [
          { field: version, constraint: 'version', message: `${version} is ${current[version]}` },
        ]);
      }
      await manager.save(binding.target, this.store.toEntity(binding, { ...current, ...checked.values }));
      return this.reloadInScope(binding, id, scope, manager);
    });
    if (binding.autoSubscribe.has(action)) await this.autoSubscribe(binding, id, ctx);
    return this.serializer.serialize(binding, row);
  }

  async save(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<Row> {
    if (isPlainObject(data) && data[binding.primary.propertyName] !== undefined) return this.update(binding, data, ctx, 'save');
    const { values } = await this.validator.check(binding, data, 'create');
    await this.policy.authorize(binding, 'save', ctx.user, values);
    const row = await this.insert(binding, values, ctx);
    if (binding.autoSubscribe.has('save')) await this.autoSubscribe(binding, row[binding.primary.propertyName] as string | number, ctx);
    return this.serializer.serialize(binding, row);
  }

  async delete(binding: BindingDefinition, data: unknown, ctx: ActionContext): Promise<{ id: string | number }> {
    const input = readInput(data, ['id'], true);
    const id = this.store.parseId(binding, input.id);
    await this.gate.run(async (manager) => {
      const current = await this.store.findById(binding, id, this.policy.scope(binding, ctx.user), manager, true);
      if (!current) throw notFound(binding, id);
      await this.policy.authorize(binding, 'delete', ctx.user, current);
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
      throw BindingError.badRequest('since must be a non-negative integer', [{ field: 'since', constraint: 'min', message: 'since must be a non-negative integer' }]);
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
      if (typeof input.room !== 'string' || !(input.room === binding.stream || input.room.startsWith(`${binding.stream}:`) || input.room.startsWith(`${binding.stream}?`))) {
        throw BindingError.badRequest(`room must name a room of ${binding.stream}`);
      }
      room = input.room;
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
    return { name: filterRoom(binding.stream, filterHash(filter)), kind: 'filter', binding, matches: compileMatcher(filter, binding.allFields, binding.sql.dialect), filter: input };
  }

  private async page(binding: BindingDefinition, input: Input, search: FilterNode | undefined, action: string, ctx: ActionContext): Promise<unknown> {
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
    const read = () => this.store.findPage(binding, where, order, limit, offset);
    const { rows, count } = holdsPattern(filter) || holdsPattern(search) ? await this.patternReads.run(this.caller(ctx), read) : await read();
    return { page, limit, count, rows: await this.present(binding, rows, include) };
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
      const entity = manager.create(binding.target as any, values) as Record<string, unknown>;
      await manager.save(binding.target, entity);
      return this.reloadInScope(binding, entity[binding.primary.propertyName] as string | number, this.policy.scope(binding, ctx.user), manager);
    });
  }

  /** The written row, read back in the same transaction; a write that leaves the writer's scope is undone. */
  private async reloadInScope(binding: BindingDefinition, id: string | number, scope: FilterNode | undefined, manager: any): Promise<Row> {
    const row = await this.store.findById(binding, id, scope, manager);
    if (!row) throw new BindingError('forbidden', `This write would move ${binding.name} ${id} out of your scope`);
    return row;
  }

  private async visibleRow(binding: BindingDefinition, id: string | number, user: unknown): Promise<Row> {
    const row = await this.store.findById(binding, id, this.policy.scope(binding, user));
    if (!row) throw notFound(binding, id);
    return row;
  }

  private async autoSubscribe(binding: BindingDefinition, id: string | number, ctx: ActionContext): Promise<void> {
    if (!ctx.subscriber) return;
    await this.rooms.subscribe(ctx.subscriber, { name: instanceRoom(binding.stream, id), kind: 'instance', binding }, { explicit: false });
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

  /** Serializes rows, loading the requested relations in one query for the whole page. */
  private async present(binding: BindingDefinition, rows: Row[], include: string[]): Promise<Row[]> {
    if (include.length === 0 || rows.length === 0) return rows.map((row) => this.serializer.serialize(binding, row));
    const pk = binding.primary.propertyName;
    const loaded = await this.store.dataSource.getRepository(binding.target).find({
      where: { [pk]: In(rows.map((row) => row[pk])) },
      relations: Object.fromEntries(include.map((name) => [name, true])),
    });
    const byId = new Map(loaded.map((entity: any) => [entity[pk], entity]));
    return rows.map((row) => {
      const entity = byId.get(row[pk]);
      const included = new Map(include.map((name) => [name, this.serializer.serializeRelated(binding.relations.get(name)!, entity?.[name])]));
      return this.serializer.serialize(binding, row, included);
    });
  }
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
      throw BindingError.badRequest(`Unknown member${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, unknown.map((field) => ({ field, constraint: 'whitelist', message: `${field} is not accepted here` })));
    }
  }
  return data;
}

function readInteger(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined || value === null) return fallback;
  const number = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < min) {
    throw BindingError.badRequest(`${name} must be an integer of at least ${min}`, [{ field: name, constraint: 'min', message: `${name} must be an integer >= ${min}` }]);
  }
  return number;
}
