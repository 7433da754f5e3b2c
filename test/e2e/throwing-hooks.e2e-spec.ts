// Issue 14 item 5, PROTOCOL.md section 6: an application hook (authenticate, identify, scope,
// can, serialize) that throws or rejects costs the request that ran it an `internal` (401 for
// authenticate over REST and SSE; a WebSocket upgrade refused with HTTP 500), and nothing else:
// the process lives, the socket stays usable, other users and other pushes are unaffected.
import { Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { IsString } from 'class-validator';
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Binding, type BindingsModuleOptions } from '../../lib/index.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { SseReader } from '../fixtures/sse-reader.js';
import { startRedis } from '../scale/instances.js';

type How = 'throw' | 'reject';
interface User {
  name: string;
  boom?: string;
  how?: How;
}

/** The hook `name` fails for users who asked for it (header x-boom), by throwing or rejecting. */
function trip(user: User | null | undefined, name: string, async = true): void | Promise<never> {
  if (user?.boom !== name) return;
  if (user.how === 'reject' && async) return Promise.reject(new Error(`${name} rejected for ${user.name}`));
  throw new Error(`${name} threw for ${user.name}`);
}

@Binding({
  app: 'hk',
  scope: (user: User) => (trip(user, 'scope', false), undefined),
  can: {
    // A thenable that is not a native promise (another promise library) is awaited like one.
    retrieve: (user: User) =>
      (user?.name === 'lazy' ? { then: (resolve: (ok: boolean) => void) => resolve(user.boom !== 'deny') } : (trip(user, 'can') ?? true)) as any,
    list: (user: User) => trip(user, 'can') ?? true,
  },
  serialize: (row) => {
    if (row.title === 'boom') throw new Error(`cannot render ${row.title}`);
    return row;
  },
})
@Entity()
class Doc {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() title: string;
}

/** A second binding without hooks: its pushes must not depend on Doc's. */
@Binding({ app: 'hk' })
@Entity()
class Memo {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() text: string;
}

const options: BindingsModuleOptions = {
  authenticate: (req: IncomingMessage) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const header = (name: string) => (req.headers[name] as string | undefined) ?? url.searchParams.get(name) ?? undefined;
    const user: User | null = header('x-user') ? { name: header('x-user')!, boom: header('x-boom'), how: header('x-how') as How } : null;
    return trip(user, 'authenticate') ?? user;
  },
  identify: (user: any) => (trip(user, 'identify', false), user.name),
  limits: { framesPerSecond: 1_000_000, burst: 1_000_000 },
};

const as = (name: string, boom?: string, how: How = 'throw'): Record<string, string> => ({ 'x-user': name, ...(boom ? { 'x-boom': boom, 'x-how': how } : {}) });

let t: TestApp;
let witness: TestSocket;
const escaped: unknown[] = [];
const record = (error: unknown) => escaped.push(error);
let logged: string[];
const printError = Logger.prototype.error;

beforeAll(async () => {
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
  t = await startApp([Doc, Memo], options);
  witness = await TestSocket.open(t.ws, as('witness'));
});
afterAll(async () => {
  witness.close();
  await t.close();
  process.off('unhandledRejection', record);
  process.off('uncaughtException', record);
});
beforeEach(() => {
  logged = [];
  // The server's error log, kept for the assertions (and off the test output).
  Logger.prototype.error = function (message: unknown) {
    logged.push(String(message));
  };
});
afterEach(async () => {
  // Every test ends with the server alive and serving another user, and nothing escaped.
  expect((await witness.request('ping', 'still here')).data).toBe('still here');
  const other = await TestSocket.open(t.ws, as('newcomer'));
  expect((await other.request('hk.Memo.list', {})).error).toBeUndefined();
  other.close();
  expect(escaped).toEqual([]);
  Logger.prototype.error = printError;
});

async function doc(title: string): Promise<Doc> {
  return t.dataSource.getRepository(Doc).save({ title });
}
const sse = (query: string, headers: Record<string, string>) => SseReader.open(`${t.http}/api/hk/Doc/events?${query}`, headers);
async function sseFailure(query: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  let reader: SseReader;
  try {
    reader = await sse(query, headers);
  } catch (failure) {
    return failure as { status: number; body: any };
  }
  reader.close();
  throw new Error('the stream opened');
}
/** What a hook throw may never reach: a client. */
function expectGeneric(error: { code: string; message: string }, code = 'internal'): void {
  expect(error.code).toBe(code);
  expect(JSON.stringify(error)).not.toMatch(/threw|rejected|render|boom/);
}

describe.each(['throw', 'reject'] as const)('authenticate that %ss', (how) => {
  it('refuses the WebSocket upgrade with 500, answers REST and SSE 401, and logs why', async () => {
    await expect(TestSocket.open(t.ws, as('mallory', 'authenticate', how))).rejects.toMatchObject({ status: 500 });
    const rest = await http(t.http, 'GET', '/api/hk/Memo', undefined, as('mallory', 'authenticate', how));
    expect(rest.status).toBe(401);
    expectGeneric(rest.body.error, 'unauthorized');
    const stream = await sseFailure('', as('mallory', 'authenticate', how));
    expect(stream.status).toBe(401);
    expectGeneric(stream.body.error, 'unauthorized');
    expect(logged).toContain(`The authenticate hook threw: authenticate ${how === 'throw' ? 'threw' : 'rejected'} for mallory`);
  });
});

describe('identify that throws', () => {
  it('refuses the WebSocket upgrade with 500 and answers REST and SSE internal', async () => {
    await expect(TestSocket.open(t.ws, as('mallory', 'identify'))).rejects.toMatchObject({ status: 500 });
    const rest = await http(t.http, 'POST', '/api/events', { event: 'channel.message', data: { channel: 'lobby', message: 'hi' } }, as('mallory', 'identify'));
    expect(rest.status).toBe(500);
    expectGeneric(rest.body.error);
    const stream = await sseFailure('', as('mallory', 'identify'));
    expect(stream.status).toBe(500);
    expectGeneric(stream.body.error);
    expect(logged).toContain('The identify hook threw: identify threw for mallory');
  });
});

describe('scope that throws', () => {
  it('answers internal over WebSocket, REST and SSE, keeps the socket, and only that user misses the push', async () => {
    const row = await doc('scoped');
    const socket = await TestSocket.open(t.ws, as('mallory', 'scope'));
    expectGeneric((await socket.request('hk.Doc.retrieve', { id: row.id })).error);
    expectGeneric((await socket.request('hk.Doc.list', {})).error);
    expect((await socket.request('ping', 1)).data).toBe(1);
    const rest = await http(t.http, 'GET', `/api/hk/Doc/${row.id}`, undefined, as('mallory', 'scope'));
    expect(rest.status).toBe(500);
    expectGeneric(rest.body.error);
    expect((await sseFailure(`id=${row.id}`, as('mallory', 'scope'))).status).toBe(500);
    expect(logged).toContain('The scope hook of hk.Doc threw: scope threw for mallory');

    // Rooms of a scoped binding are numbered per scope, so subscribing needs the scope too: internal, no room joined.
    expectGeneric((await socket.request('hk.Doc.subscribe', {})).error);
    expect((await witness.request('hk.Doc.subscribe', {})).error).toBeUndefined();
    await t.dataSource.getRepository(Doc).update({ id: row.id }, { title: 'scoped 2' });
    await witness.waitFor((f) => f.event === 'hk.Doc.updated' && f.data.title === 'scoped 2');
    await settle();
    expect(socket.pushes()).toEqual([]);
    expect((await socket.request('hk.Memo.list', {})).error).toBeUndefined();
    socket.close();
  });
});

describe.each(['throw', 'reject'] as const)('can that %ss', (how) => {
  it('answers internal over WebSocket, REST and SSE, keeps the socket, and only that user misses the push', async () => {
    const row = await doc(`can ${how}`);
    const socket = await TestSocket.open(t.ws, as('mallory', 'can', how));
    expectGeneric((await socket.request('hk.Doc.retrieve', { id: row.id })).error);
    expectGeneric((await socket.request('hk.Doc.list', {})).error);
    expect((await socket.request('ping', 2)).data).toBe(2);
    const rest = await http(t.http, 'GET', `/api/hk/Doc?filter=${encodeURIComponent(JSON.stringify({ id: row.id }))}`, undefined, as('mallory', 'can', how));
    expect(rest.status).toBe(500);
    expectGeneric(rest.body.error);
    const stream = await sseFailure(`id=${row.id}`, as('mallory', 'can', how));
    expect(stream.status).toBe(500);
    expectGeneric(stream.body.error);
    expect(logged).toContain(`The can.retrieve hook of hk.Doc threw: can ${how === 'throw' ? 'threw' : 'rejected'} for mallory`);

    expect((await socket.request('hk.Doc.subscribe', {})).error).toBeUndefined();
    expect((await witness.request('hk.Doc.subscribe', {})).error).toBeUndefined();
    await t.dataSource.getRepository(Doc).update({ id: row.id }, { title: `can ${how} 2` });
    await witness.waitFor((f) => f.event === 'hk.Doc.updated' && f.data.title === `can ${how} 2`);
    await settle();
    expect(socket.pushes()).toEqual([]);
    socket.close();
  });
});

describe('serialize that throws on one row', () => {
  it('fails every page and retrieve holding the row with internal and a log line naming binding, row and message; other pages answer', async () => {
    const good = await doc('fine');
    const bad = await doc('boom');
    const socket = await TestSocket.open(t.ws, as('reader'));
    expectGeneric((await socket.request('hk.Doc.retrieve', { id: bad.id })).error);
    expectGeneric((await socket.request('hk.Doc.list', { filter: { id: { in: [good.id, bad.id] } } })).error);
    expect((await socket.request('hk.Doc.list', { filter: { id: good.id } })).data.rows).toEqual([{ id: good.id, title: 'fine' }]);
    const rest = await http(t.http, 'GET', `/api/hk/Doc/${bad.id}`, undefined, as('reader'));
    expect(rest.status).toBe(500);
    expectGeneric(rest.body.error);
    expect(logged.filter((line) => line === `The serialize hook of hk.Doc threw on row ${bad.id}: cannot render boom`).length).toBeGreaterThanOrEqual(2);
    socket.close();
  });

  it('sends nothing of that change, logs it, and still pushes the other changes of the transaction and of other rooms', async () => {
    const [a, b] = [await doc('a'), await doc('b')];
    const memo = await t.dataSource.getRepository(Memo).save({ text: 'm' });
    const socket = await TestSocket.open(t.ws, as('reader'));
    for (const data of [{}, { id: a.id }, { id: b.id }]) expect((await socket.request('hk.Doc.subscribe', data)).error).toBeUndefined();
    expect((await socket.request('hk.Memo.subscribe', { id: memo.id })).error).toBeUndefined();
    const stream = await sse('', as('reader'));

    await t.dataSource.transaction(async (manager) => {
      await manager.getRepository(Doc).update({ id: a.id }, { title: 'boom' });
      await manager.getRepository(Doc).update({ id: b.id }, { title: 'b2' });
      await manager.getRepository(Memo).update({ id: memo.id }, { text: 'm2' });
    });
    await socket.waitFor((f) => f.event === 'hk.Doc.updated' && f.data.id === b.id && f.data.title === 'b2');
    await socket.waitFor((f) => f.event === 'hk.Memo.updated' && f.data.text === 'm2');
    await stream.waitFor(() => stream.events().find((e) => e.frame.data.id === b.id));
    await settle();
    expect(socket.pushes().filter((f) => f.data.id === a.id)).toEqual([]);
    expect(stream.events().filter((e) => e.frame.data.id === a.id)).toEqual([]);
    expect(logged).toContain(`The serialize hook of hk.Doc threw on row ${a.id}: cannot render boom`);
    expect(logged.some((line) => line.startsWith(`Push of hk.Doc ${a.id} was not sent`))).toBe(true);

    // The capture pipeline goes on: the row's next renderable state is pushed.
    await t.dataSource.getRepository(Doc).update({ id: a.id }, { title: 'a3' });
    await socket.waitFor((f) => f.event === 'hk.Doc.updated' && f.data.id === a.id && f.data.title === 'a3');
    stream.close();
    socket.close();
  });
});

describe('can.retrieve answering with a thenable of another promise library', () => {
  it('is awaited for pushes: a thenable false sends nothing, a thenable true sends the push', async () => {
    const row = await doc('thenable');
    const denied = await TestSocket.open(t.ws, as('lazy', 'deny'));
    const allowed = await TestSocket.open(t.ws, as('lazy'));
    for (const socket of [denied, allowed]) expect((await socket.request('hk.Doc.subscribe', {})).error).toBeUndefined();
    await t.dataSource.getRepository(Doc).update({ id: row.id }, { title: 'thenable 2' });
    await allowed.waitFor((f) => f.event === 'hk.Doc.updated' && f.data.title === 'thenable 2');
    await settle();
    expect(denied.pushes()).toEqual([]);
    denied.close();
    allowed.close();
  });
});

describe('serialize that throws, with the Redis adapter', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let r: TestApp;
  beforeAll(async () => {
    redis = await startRedis();
    r = await startApp([Doc, Memo], { ...options, adapter: { redis: redis.url, keyPrefix: 'hooks:' } });
  });
  afterAll(async () => {
    await r.close();
    await redis.stop();
  });

  it('sends nothing of that change, keeps Redis in use and pushes the other changes', async () => {
    const [a, b] = [await r.dataSource.getRepository(Doc).save({ title: 'a' }), await r.dataSource.getRepository(Doc).save({ title: 'b' })];
    const socket = await TestSocket.open(r.ws, as('reader'));
    expect((await socket.request('hk.Doc.subscribe', {})).error).toBeUndefined();
    await r.dataSource.transaction(async (manager) => {
      await manager.getRepository(Doc).update({ id: a.id }, { title: 'boom' });
      await manager.getRepository(Doc).update({ id: b.id }, { title: 'b2' });
    });
    await socket.waitFor((f) => f.event === 'hk.Doc.updated' && f.data.id === b.id && f.data.title === 'b2');
    await r.dataSource.getRepository(Doc).update({ id: a.id }, { title: 'a3' });
    await socket.waitFor((f) => f.event === 'hk.Doc.updated' && f.data.id === a.id && f.data.title === 'a3');
    expect(socket.pushes().filter((f) => f.data.title === 'boom')).toEqual([]);
    expect(logged).toContain(`The serialize hook of hk.Doc threw on row ${a.id}: cannot render boom`);
    expect(logged.filter((line) => line.startsWith('Redis unreachable'))).toEqual([]);
    expect((await socket.request('ping', 3)).data).toBe(3);
    socket.close();
  });
});
