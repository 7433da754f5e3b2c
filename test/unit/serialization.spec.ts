// What leaves the server: rows (exclude, serialize, included relations), errors (no SQL,
// no driver text, no stack) and frames. Built on a real DataSource (SQLite in memory).
import 'reflect-metadata';
import {
  BadRequestException,
  ConflictException,
  ForbiddenException,
  HttpException,
  ImATeapotException,
  InternalServerErrorException,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { RowSerializer } from '../../lib/rows/row-serializer.js';
import { resolveOptions } from '../../lib/bindings.options.js';
import { BindingError } from '../../lib/index.js';
import { FrameCodec } from '../../lib/protocol/frame-codec.js';
import { toBindingError } from '../../lib/protocol/to-binding-error.js';
import { BindingRegistry } from '../../lib/registry/binding.registry.js';
import { BindingsMetadataAccessor } from '../../lib/registry/metadata.accessor.js';
import { Agent, Task, Ticket } from '../fixtures/actions-fixtures.js';
import { Category, Hidden, NoteEntity, Product } from '../fixtures/entities.js';

/** A column whose database name differs from its property. */
@Entity()
class Sku {
  @PrimaryGeneratedColumn() id: number;
  @Column({ name: 'sku_code', unique: true }) code: string;
}

let dataSource: DataSource;
let registry: BindingRegistry;
let serializer: RowSerializer;

beforeAll(async () => {
  dataSource = new DataSource({
    type: 'better-sqlite3',
    database: ':memory:',
    entities: [Product, Category, NoteEntity, Hidden, Ticket, Agent, Task, Sku],
    synchronize: true,
  });
  await dataSource.initialize();
  registry = new BindingRegistry(dataSource, resolveOptions(), new BindingsMetadataAccessor(new Reflector()));
  serializer = new RowSerializer();
});
afterAll(() => dataSource.destroy());

const SAFE = /SELECT|INSERT|UPDATE|SQLITE|sqlite|constraint failed|QueryFailed|\bat .+:\d+:\d+/;

describe('RowSerializer', () => {
  it('sends the exposed columns only, in entity order, missing ones as null', () => {
    const row = { id: 1, name: 'Lamp', price: 3, status: 'open', secret: 'hush', categoryId: undefined, version: 2, extra: 'no' };
    const out = serializer.serialize(registry.get('shop.Product')!, row);
    expect(out).toEqual({ id: 1, name: 'Lamp', price: 3, status: 'open', categoryId: null, version: 2 });
    expect(Object.keys(out)).toEqual(['id', 'name', 'price', 'status', 'categoryId', 'version']);
  });

  it('runs the serialize hook last, on the exposed columns', () => {
    expect(serializer.serialize(registry.get('desk.Ticket')!, { id: 4, title: 'Jam', priority: 3 })).toEqual({
      id: 4,
      title: 'Jam',
      label: '#4 Jam',
      urgent: true,
    });
  });

  it('adds included relations as given (the actions serialize them with their own binding)', () => {
    const task = registry.get('desk.Task')!;
    const agent = serializer.serialize(registry.get('desk.Agent')!, { id: 2, name: 'ada', password: 'hunter2' });
    expect(serializer.serialize(task, { id: 1, title: 'T', agentId: 2, dueAt: null }, new Map([['agent', agent]]))).toEqual({
      id: 1,
      title: 'T',
      agentId: 2,
      dueAt: null,
      agent: { id: 2, name: 'ada', handle: '@ada' },
    });
  });
});

describe('toBindingError', () => {
  const product = () => registry.get('shop.Product')!;

  async function driverError(work: () => Promise<unknown>): Promise<unknown> {
    try {
      await work();
    } catch (error) {
      return error;
    }
    throw new Error('expected the database to refuse');
  }

  it('passes BindingErrors through unchanged', () => {
    const original = new BindingError('not_found', 'Product 1 not found');
    expect(toBindingError(original)).toEqual({ error: original, unexpected: false });
  });

  it('turns a real unique violation into conflict naming the property, without SQL', async () => {
    await dataSource.query('INSERT INTO "product" ("name", "price", "status", "version") VALUES (?, ?, ?, ?)', ['Taken', 1, 'open', 1]);
    const thrown = await driverError(() => dataSource.getRepository(Product).insert({ name: 'Taken', price: 2, version: 1 }));
    const { error, unexpected } = toBindingError(thrown, product().metadata);
    expect(unexpected).toBe(false);
    expect(error.code).toBe('conflict');
    expect(error.details).toEqual([expect.objectContaining({ field: 'name', constraint: 'unique' })]);
    expect(JSON.stringify(error)).not.toMatch(SAFE);
  });

  it('names the property, not the column, when they differ', async () => {
    await dataSource.getRepository(Sku).insert({ code: 'A-1' });
    const thrown = await driverError(() => dataSource.getRepository(Sku).insert({ code: 'A-1' }));
    const { error } = toBindingError(thrown, dataSource.getMetadata(Sku));
    expect(error.code).toBe('conflict');
    expect(error.details).toEqual([expect.objectContaining({ field: 'code' })]);
    expect(error.message).not.toContain('sku_code');
  });

  it('turns a real foreign key failure into bad_request', async () => {
    // Task.agentId refers to Agent: a missing agent is a foreign key failure.
    const thrown = await driverError(() => dataSource.getRepository(Task).insert({ title: 'x', agentId: 12345 }));
    const { error } = toBindingError(thrown, registry.get('desk.Task')!.metadata);
    expect(error.code).toBe('bad_request');
    expect(JSON.stringify(error)).not.toMatch(SAFE);
  });

  it('turns a NOT NULL violation into bad_request naming the property', async () => {
    const thrown = await driverError(() => dataSource.query('INSERT INTO "product" ("price", "status", "version") VALUES (1, ?, 1)', ['open']));
    const { error } = toBindingError(thrown, product().metadata);
    expect(error.code).toBe('bad_request');
    expect(error.details).toEqual([expect.objectContaining({ field: 'name' })]);
    expect(JSON.stringify(error)).not.toMatch(SAFE);
  });

  it('turns any other database error into internal with a generic message, flagged as unexpected', async () => {
    const thrown = await driverError(() => dataSource.query('SELECT nope FROM "product"'));
    const { error, unexpected } = toBindingError(thrown, product().metadata);
    expect(unexpected).toBe(true);
    expect(error.toJSON()).toEqual({ code: 'internal', message: 'Internal error' });
  });

  it('turns a plain Error into internal without its message', () => {
    const { error, unexpected } = toBindingError(new Error('SELECT * FROM secrets at /srv/app.ts:1:2'));
    expect(unexpected).toBe(true);
    expect(error.toJSON()).toEqual({ code: 'internal', message: 'Internal error' });
    expect(toBindingError('a string').error.code).toBe('internal');
    expect(toBindingError(undefined).error.code).toBe('internal');
  });

  it("keeps the status of Nest's HttpExceptions, and their message below 500", () => {
    const cases: Array<[HttpException, string, string]> = [
      [new BadRequestException('Bad thing'), 'bad_request', 'Bad thing'],
      [new UnauthorizedException('Who are you'), 'unauthorized', 'Who are you'],
      [new ForbiddenException('Members only'), 'forbidden', 'Members only'],
      [new NotFoundException('No such thing'), 'not_found', 'No such thing'],
      [new ConflictException('Taken'), 'conflict', 'Taken'],
      [new HttpException('Too big', 413), 'too_large', 'Too big'],
      [new HttpException('Slow down', 429), 'rate_limited', 'Slow down'],
      [new ImATeapotException('Teapot'), 'bad_request', 'Teapot'],
      [new InternalServerErrorException('db password is hunter2'), 'internal', 'Internal error'],
      [new HttpException('gateway said SELECT', 502), 'internal', 'Internal error'],
    ];
    for (const [exception, code, message] of cases) {
      expect([exception.getStatus(), toBindingError(exception).error.toJSON()]).toEqual([exception.getStatus(), { code, message }]);
    }
    expect(toBindingError(new ForbiddenException()).error.toJSON()).toEqual({ code: 'forbidden', message: 'Forbidden' });
  });

  it('turns a TypeORM optimistic lock mismatch into conflict', () => {
    const lock = Object.assign(new Error('The optimistic lock on entity Product failed, version 2 was expected, but is actually 3.'), {
      name: 'OptimisticLockVersionMismatchError',
    });
    expect(toBindingError(lock).error.code).toBe('conflict');
  });
});

describe('FrameCodec', () => {
  const codec = new FrameCodec(resolveOptions());

  it('writes replies and errors with the same event and id', () => {
    expect(JSON.parse(codec.reply('shop.Product.retrieve', 7, { id: 42 }))).toEqual({ event: 'shop.Product.retrieve', id: 7, data: { id: 42 } });
    expect(JSON.parse(codec.reply('x', 'abc', undefined))).toEqual({ event: 'x', id: 'abc', data: null });
    expect(JSON.parse(codec.reply('x', undefined, 1))).toEqual({ event: 'x', data: 1 });
    const details = [{ field: 'price', constraint: 'min', message: 'price must not be less than 0' }];
    expect(JSON.parse(codec.error('shop.Product.create', 8, BindingError.badRequest('Invalid input', details)))).toEqual({
      event: 'shop.Product.create',
      id: 8,
      error: { code: 'bad_request', message: 'Invalid input', details },
    });
    expect(JSON.parse(codec.error('e', 1, new BindingError('not_found', 'gone')))).toEqual({
      event: 'e',
      id: 1,
      error: { code: 'not_found', message: 'gone' },
    });
  });

  it('uses the configured member names', () => {
    const demux = new FrameCodec(resolveOptions({ protocol: { eventKey: 'stream', dataKey: 'payload' } }));
    expect(JSON.parse(demux.reply('chat.send', 3, { ok: true }))).toEqual({ stream: 'chat.send', id: 3, payload: { ok: true } });
    expect(demux.parse('{"stream": "chat.send", "id": 3, "payload": [1]}')).toEqual({ event: 'chat.send', id: 3, data: [1] });
  });

  it('escapes event names and ids so a reply is always valid JSON', () => {
    const event = 'a"b\\c\u2028';
    expect(JSON.parse(codec.reply(event, 'id"}', 'x'))).toEqual({ event, id: 'id"}', data: 'x' });
  });
});
