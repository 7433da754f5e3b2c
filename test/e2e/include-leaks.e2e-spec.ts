import { jest } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BindingsModule, InvalidBindingException, UnboundRelationException } from '../../lib/index.js';
import { createTestDatabase } from '../fixtures/database.js';
import { createApp, http, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { Account, Charter, Feedback, Note, Profile, Project, Tag, Visit } from '../fixtures/include-fixtures.js';
import { alice, as, authenticateFromHeader, bob, carol, type TestUser } from '../fixtures/tenancy-fixtures.js';

// An included row must be exactly what a retrieve of it by the same user answers: the
// related binding's scope, can.retrieve (async here), exclude and serialize apply, and
// soft-deleted rows stay out. Two tenants, relations both ways, every read action, both
// transports; each expectation names the exact rows and fields.
let t: TestApp;
const sockets = new Map<string, TestSocket>();
const p: Record<string, Project> = {};
const n: Record<string, Note> = {};
const tg: Record<string, Tag> = {};
const ch: Record<string, Charter> = {};

beforeAll(async () => {
  // includeRows is small so the bound can be shown; the other tenants stay under it.
  t = await startApp([Project, Note, Tag, Charter], { authenticate: authenticateFromHeader, limits: { includeRows: 3 } });
  const projects = t.dataSource.getRepository(Project);
  const notes = t.dataSource.getRepository(Note);
  const tags = t.dataSource.getRepository(Tag);
  tg.red = await tags.save({ label: 'red', tenant: 'acme', color: '#f00' });
  tg.blue = await tags.save({ label: 'blue', tenant: 'globex', color: '#00f' });
  p.acme = await projects.save({ title: 'acme roadmap', tenant: 'acme', budget: 100, tags: [tg.red, tg.blue] });
  p.globex = await projects.save({ title: 'globex roadmap', tenant: 'globex', budget: 999 });
  p.open = await projects.save({ title: 'acme showcase', tenant: 'acme', public: true, budget: 5 });
  n.one = await notes.save({ body: 'acme one', tenant: 'acme', projectId: p.acme.id });
  n.secret = await notes.save({ body: 'acme secret', tenant: 'acme', restricted: true, projectId: p.acme.id });
  n.foreign = await notes.save({ body: 'globex on acme', tenant: 'globex', projectId: p.acme.id });
  n.away = await notes.save({ body: 'acme on globex', tenant: 'acme', projectId: p.globex.id });
  n.gone = await notes.save({ body: 'acme deleted', tenant: 'acme', projectId: p.acme.id });
  await notes.softDelete(n.gone.id);
  n.own = await notes.save({ body: 'globex own', tenant: 'globex', projectId: p.globex.id });
  n.open = await notes.save({ body: 'public note', tenant: 'acme', projectId: p.open.id });
  const charters = t.dataSource.getRepository(Charter);
  ch.acme = await charters.save({ text: 'acme charter', tenant: 'acme', signature: 'sig-a', projectId: p.acme.id });
  ch.planted = await charters.save({ text: 'globex charter on acme', tenant: 'globex', signature: 'sig-g', projectId: p.open.id });
  // A third tenant whose one note makes Note's can.retrieve throw.
  p.initech = await projects.save({ title: 'initech roadmap', tenant: 'initech' });
  n.boom = await notes.save({ body: 'boom', tenant: 'initech', projectId: p.initech.id });
  // A fourth tenant with 3 + 1 notes, for limits.includeRows.
  p.full = await projects.save({ title: 'umbrella full', tenant: 'umbrella' });
  p.light = await projects.save({ title: 'umbrella light', tenant: 'umbrella' });
  for (const body of ['u1', 'u2', 'u3']) await notes.save({ body, tenant: 'umbrella', projectId: p.full.id });
  await notes.save({ body: 'u4', tenant: 'umbrella', projectId: p.light.id });
  for (const [key, user] of Object.entries({ alice, bob, carol, dave, eve })) sockets.set(key, await TestSocket.open(t.ws, as(user)));
  sockets.set('anonymous', await TestSocket.open(t.ws));
});
afterAll(async () => {
  for (const socket of sockets.values()) socket.close();
  await t.close();
});

// What a retrieve answers for each row: exposed columns, then the binding's serialize.
const P = (row: Project) => ({ id: row.id, title: row.title, tenant: row.tenant, public: row.public ?? false });
const N = (row: Note) => ({ id: row.id, body: row.body, tenant: row.tenant, projectId: row.projectId, deletedAt: null, excerpt: row.body.slice(0, 4) });
const T = (row: Tag) => ({ id: row.id, label: row.label, tenant: row.tenant });
const C = (row: Charter) => ({ id: row.id, text: row.text, tenant: row.tenant, projectId: row.projectId });

const dave: TestUser = { id: 4, tenant: 'initech', role: 'admin' };
const eve: TestUser = { id: 5, tenant: 'umbrella', role: 'member' };
type Who = 'alice' | 'bob' | 'carol' | 'dave' | 'eve' | 'anonymous';
const users: Record<Who, TestUser | null> = { alice, bob, carol, dave, eve, anonymous: null };
type Answer = { data?: any; code?: string };

/** One read over WebSocket or over the REST routes, as `who`. */
async function read(via: 'ws' | 'rest', who: Who, model: string, action: 'retrieve' | 'list' | 'search', data: Record<string, any>): Promise<Answer> {
  if (via === 'ws') {
    const reply = await sockets.get(who)!.request(`inc.${model}.${action}`, data);
    return reply.error ? { code: reply.error.code } : { data: reply.data };
  }
  const user = users[who];
  const headers = user ? as(user) : {};
  const include = data.include ? `include=${data.include.join(',')}` : '';
  let res;
  if (action === 'retrieve') res = await http(t.http, 'GET', `/api/inc/${model}/${data.id}?${include}`, undefined, headers);
  else if (action === 'list') {
    const query = [include, data.filter ? `filter=${encodeURIComponent(JSON.stringify(data.filter))}` : ''].filter(Boolean).join('&');
    res = await http(t.http, 'GET', `/api/inc/${model}?${query}`, undefined, headers);
  } else res = await http(t.http, 'POST', `/api/inc/${model}/search`, data, headers);
  return res.status >= 400 ? { code: res.body.error.code } : { data: res.body };
}

const EXCLUDED = /budget|restricted|color|signature|sig-a|sig-g/;

describe.each(['ws', 'rest'] as const)('include over %s', (via) => {
  const get = async (who: Who, model: string, action: 'retrieve' | 'list' | 'search', data: Record<string, any>) => {
    const answer = await read(via, who, model, action, data);
    if (answer.code) throw new Error(`${model}.${action} answered ${answer.code}`);
    expect(JSON.stringify(answer.data)).not.toMatch(EXCLUDED);
    return answer.data;
  };

  it("retrieve with a to-many include: only the user's tenant, not soft-deleted, async can.retrieve applied per row", async () => {
    expect(await get('alice', 'Project', 'retrieve', { id: p.acme.id, include: ['notes'] })).toEqual({ ...P(p.acme), notes: [N(n.one), N(n.secret)] });
    // carol is a member: the async can.retrieve of Note refuses the restricted note.
    expect(await get('carol', 'Project', 'retrieve', { id: p.acme.id, include: ['notes'] })).toEqual({ ...P(p.acme), notes: [N(n.one)] });
    expect(await get('bob', 'Project', 'retrieve', { id: p.globex.id, include: ['notes'] })).toEqual({ ...P(p.globex), notes: [N(n.own)] });
    expect((await read(via, 'bob', 'Project', 'retrieve', { id: p.acme.id, include: ['notes'] })).code).toBe('not_found');
  });

  it('retrieve with a to-one include whose target is in another tenant answers null, as its retrieve answers not_found', async () => {
    expect(await get('alice', 'Note', 'retrieve', { id: n.one.id, include: ['project'] })).toEqual({ ...N(n.one), project: P(p.acme) });
    expect(await get('alice', 'Note', 'retrieve', { id: n.away.id, include: ['project'] })).toEqual({ ...N(n.away), project: null });
    expect((await read(via, 'alice', 'Project', 'retrieve', { id: p.globex.id })).code).toBe('not_found');
    expect(await get('bob', 'Note', 'retrieve', { id: n.foreign.id, include: ['project'] })).toEqual({ ...N(n.foreign), project: null });
    expect(await get('bob', 'Note', 'retrieve', { id: n.own.id, include: ['project'] })).toEqual({ ...N(n.own), project: P(p.globex) });
  });

  it('one-to-one both ways and many-to-many both ways are scoped too', async () => {
    expect(await get('alice', 'Project', 'retrieve', { id: p.acme.id, include: ['tags', 'charter'] })).toEqual({
      ...P(p.acme),
      tags: [T(tg.red)],
      charter: C(ch.acme),
    });
    expect(await get('alice', 'Project', 'retrieve', { id: p.open.id, include: ['tags', 'charter'] })).toEqual({ ...P(p.open), tags: [], charter: null });
    expect(await get('alice', 'Charter', 'retrieve', { id: ch.acme.id, include: ['project'] })).toEqual({ ...C(ch.acme), project: P(p.acme) });
    expect(await get('bob', 'Charter', 'retrieve', { id: ch.planted.id, include: ['project'] })).toEqual({ ...C(ch.planted), project: null });
    expect(await get('alice', 'Tag', 'retrieve', { id: tg.red.id, include: ['projects'] })).toEqual({ ...T(tg.red), projects: [P(p.acme)] });
    expect(await get('bob', 'Tag', 'retrieve', { id: tg.blue.id, include: ['projects'] })).toEqual({ ...T(tg.blue), projects: [] });
  });

  it('an anonymous caller gets no related row its own retrieve would refuse', async () => {
    expect(await get('anonymous', 'Project', 'retrieve', { id: p.open.id, include: ['notes', 'tags', 'charter'] })).toEqual({
      ...P(p.open),
      notes: [],
      tags: [],
      charter: null,
    });
    expect((await read(via, 'anonymous', 'Note', 'retrieve', { id: n.open.id })).code).toBe('not_found');
    expect(await get('anonymous', 'Project', 'list', { include: ['notes', 'charter'] })).toEqual({
      page: 1,
      limit: 25,
      count: 1,
      rows: [{ ...P(p.open), notes: [], charter: null }],
    });
    expect(await get('anonymous', 'Project', 'search', { q: 'acme', include: ['notes'] })).toEqual({
      page: 1,
      limit: 25,
      count: 1,
      rows: [{ ...P(p.open), notes: [] }],
    });
  });

  it('list with include: each row gets exactly its own visible related rows', async () => {
    expect(await get('alice', 'Project', 'list', { include: ['notes', 'tags', 'charter'] })).toEqual({
      page: 1,
      limit: 25,
      count: 2,
      rows: [
        { ...P(p.acme), notes: [N(n.one), N(n.secret)], tags: [T(tg.red)], charter: C(ch.acme) },
        { ...P(p.open), notes: [N(n.open)], tags: [], charter: null },
      ],
    });
    expect((await get('carol', 'Project', 'list', { include: ['notes'] })).rows).toEqual([
      { ...P(p.acme), notes: [N(n.one)] },
      { ...P(p.open), notes: [N(n.open)] },
    ]);
    expect(await get('bob', 'Project', 'list', { include: ['notes', 'tags', 'charter'] })).toEqual({
      page: 1,
      limit: 25,
      count: 1,
      rows: [{ ...P(p.globex), notes: [N(n.own)], tags: [], charter: null }],
    });
    expect((await get('alice', 'Note', 'list', { filter: { projectId: p.globex.id }, include: ['project'] })).rows).toEqual([{ ...N(n.away), project: null }]);
    expect((await get('bob', 'Charter', 'list', { include: ['project'] })).rows).toEqual([{ ...C(ch.planted), project: null }]);
  });

  it('search with include: to-one targets of another tenant are null, to-many lists hold only visible rows', async () => {
    expect((await get('alice', 'Note', 'search', { q: 'acme', include: ['project'] })).rows).toEqual([
      { ...N(n.one), project: P(p.acme) },
      { ...N(n.secret), project: P(p.acme) },
      { ...N(n.away), project: null },
    ]);
    expect((await get('bob', 'Note', 'search', { q: 'acme', include: ['project'] })).rows).toEqual([{ ...N(n.foreign), project: null }]);
    expect((await get('carol', 'Project', 'search', { q: 'roadmap', include: ['notes', 'tags'] })).rows).toEqual([
      { ...P(p.acme), notes: [N(n.one)], tags: [T(tg.red)] },
    ]);
    expect((await get('bob', 'Tag', 'search', { q: 'blue', include: ['projects'] })).rows).toEqual([{ ...T(tg.blue), projects: [] }]);
  });

  it('a to-many include holding more than limits.includeRows rows is refused with bad_request; a smaller page is served', async () => {
    const bodies = (rows: any[]) => rows.map((row) => [row.title, row.notes.map((note: Note) => note.body)]);
    expect(bodies([await get('eve', 'Project', 'retrieve', { id: p.full.id, include: ['notes'] })])).toEqual([['umbrella full', ['u1', 'u2', 'u3']]]);
    expect(await read(via, 'eve', 'Project', 'list', { include: ['notes'] })).toEqual({ code: 'bad_request' });
    expect(await read(via, 'eve', 'Project', 'search', { q: 'umbrella', include: ['notes'] })).toEqual({ code: 'bad_request' });
    expect(bodies((await get('eve', 'Project', 'list', { filter: { title: 'umbrella light' }, include: ['notes'] })).rows)).toEqual([
      ['umbrella light', ['u4']],
    ]);
    // A to-one include embeds one row per owner row: the page size bounds it, not includeRows.
    const notes = (await get('eve', 'Note', 'list', { include: ['project'] })).rows;
    expect(notes.map((note: any) => [note.body, note.project.title])).toEqual([
      ['u1', 'umbrella full'],
      ['u2', 'umbrella full'],
      ['u3', 'umbrella full'],
      ['u4', 'umbrella light'],
    ]);
  });
});

describe('include, whatever the transport', () => {
  it('loads each included relation in one query for the whole page, not one per row', async () => {
    // Every statement passes the logger, whichever path runs it (a free SQLite connection reads at once).
    const spy = jest.spyOn(t.dataSource.logger, 'logQuery');
    try {
      const page = (await sockets.get('alice')!.request('inc.Project.list', { include: ['notes', 'tags', 'charter'] })).data;
      expect(page.rows.map((row: Project) => row.id)).toEqual([p.acme.id, p.open.id]);
      // The page (with its count) and one query per relation.
      expect(spy).toHaveBeenCalledTimes(4);
    } finally {
      spy.mockRestore();
    }
  });

  it('a related can.retrieve that throws fails that request with internal, and nothing of the row leaves', async () => {
    const reply = await sockets.get('dave')!.request('inc.Project.retrieve', { id: p.initech.id, include: ['notes'] });
    expect(reply.error.code).toBe('internal');
    expect(JSON.stringify(reply)).not.toMatch(/boom|hook|initech/);
    const rest = await http(t.http, 'GET', `/api/inc/Project?include=notes`, undefined, as(dave));
    expect([rest.status, rest.body.error.code]).toEqual([500, 'internal']);
    expect(JSON.stringify(rest.body)).not.toMatch(/boom|hook|initech/);
    // The socket stays usable, and the owner row alone is still served.
    expect((await sockets.get('dave')!.request('inc.Project.retrieve', { id: p.initech.id })).data).toEqual(P(p.initech));
  });
});

/** How start-up with `entities` fails (undefined when it does not). */
async function startupFailure(entities: Function[]): Promise<unknown> {
  const database = await createTestDatabase(entities);
  const dataSource = new DataSource(database.options);
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRootAsync({ useFactory: () => database.options, dataSourceFactory: async () => dataSource.initialize() }),
        BindingsModule.forRoot({}),
      ],
    }).compile();
    const app = createApp(moduleRef, { logger: false });
    await app.init();
    await app.close();
    return undefined;
  } catch (error) {
    return error;
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
    await database.drop();
  }
}

describe('start-up', () => {
  it('refuses a relation to an entity without @Binding, saying how to fix it', async () => {
    const failure = await startupFailure([Profile, Account]);
    expect(failure).toBeInstanceOf(UnboundRelationException);
    expect(failure).toBeInstanceOf(InvalidBindingException);
    expect((failure as Error).message).toBe(
      '@Binding on Profile: relations names "account", whose target entity Account has no @Binding, so an include could not apply its exclude, scope or can.retrieve. ' +
        'Put @Binding({ exclude, scope, can, ... }) on Account to say what its rows may show and to whom, or remove "account" from relations.',
    );
  });

  it('refuses a relation to a binding that serves no retrieve', async () => {
    const failure = await startupFailure([Visit, Feedback]);
    expect(failure).toBeInstanceOf(InvalidBindingException);
    expect((failure as Error).message).toBe(
      `@Binding on Visit: relations names "feedback", whose target inc.Feedback does not serve retrieve. Add 'retrieve' to the actions of Feedback, or remove "feedback" from relations.`,
    );
  });
});
