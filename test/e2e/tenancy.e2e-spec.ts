import { alice, as, authenticateFromHeader, bob, carol, Doc, DocHandler } from '../fixtures/tenancy-fixtures.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

// Two tenants share one table. Whatever the route, one tenant's rows must be invisible,
// unwritable and never pushed to the other.
let t: TestApp;
let acmeDoc: Doc;
let globexDoc: Doc;
let a: TestSocket;
let b: TestSocket;

beforeAll(async () => {
  t = await startApp([Doc], { authenticate: authenticateFromHeader, anonymous: false }, { providers: [DocHandler] });
  const repo = t.dataSource.getRepository(Doc);
  acmeDoc = await repo.save({ title: 'acme plan', tenant: 'acme', internal: 'x' });
  globexDoc = await repo.save({ title: 'globex plan', tenant: 'globex', internal: 'y' });
  a = await TestSocket.open(t.ws, as(alice));
  b = await TestSocket.open(t.ws, as(bob));
});
afterAll(async () => {
  a.close();
  b.close();
  await t.close();
});

const expectCode = (reply: any, code: string) => expect(reply.error?.code).toBe(code);

describe('without a user (anonymous: false)', () => {
  it('refuses the WebSocket upgrade with 401', async () => {
    await expect(TestSocket.open(t.ws)).rejects.toMatchObject({ status: 401 });
  });
  it('answers REST with 401', async () => {
    const res = await http(t.http, 'GET', `/api/t/Doc/${acmeDoc.id}`);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });
});

describe('reads', () => {
  it('retrieve of the other tenant is not_found, own is found', async () => {
    expectCode(await a.request('t.Doc.retrieve', { id: globexDoc.id }), 'not_found');
    expect((await a.request('t.Doc.retrieve', { id: acmeDoc.id })).data).toMatchObject({ id: acmeDoc.id, title: 'acme plan' });
    expect((await a.request('t.Doc.retrieve', { id: acmeDoc.id })).data.internal).toBeUndefined();
  });
  it('list and search only see the own tenant, count included', async () => {
    const list = (await a.request('t.Doc.list', {})).data;
    expect(list.rows.map((r: Doc) => r.tenant)).toEqual(['acme']);
    expect(list.count).toBe(1);
    const search = (await b.request('t.Doc.search', { q: 'plan' })).data;
    expect(search.rows.map((r: Doc) => r.id)).toEqual([globexDoc.id]);
    // Filtering on the other tenant explicitly cannot widen the scope.
    const sneaky = (await a.request('t.Doc.list', { filter: { $or: [{ tenant: 'globex' }, { tenant: 'acme' }] } })).data;
    expect(sneaky.rows.map((r: Doc) => r.tenant)).toEqual(['acme']);
  });
  it('REST reads are scoped too', async () => {
    expect((await http(t.http, 'GET', `/api/t/Doc/${globexDoc.id}`, undefined, as(alice))).status).toBe(404);
    const list = await http(t.http, 'GET', '/api/t/Doc', undefined, as(bob));
    expect(list.body.rows.map((r: Doc) => r.id)).toEqual([globexDoc.id]);
    const search = await http(t.http, 'POST', '/api/t/Doc/search', { q: 'acme' }, as(bob));
    expect(search.body.count).toBe(0);
  });
});

describe('writes', () => {
  it('update, save and delete of the other tenant are not_found and change nothing', async () => {
    expectCode(await a.request('t.Doc.update', { id: globexDoc.id, title: 'hacked' }), 'not_found');
    expectCode(await a.request('t.Doc.save', { id: globexDoc.id, title: 'hacked' }), 'not_found');
    expectCode(await a.request('t.Doc.delete', { id: globexDoc.id }), 'not_found');
    expect((await http(t.http, 'PATCH', `/api/t/Doc/${globexDoc.id}`, { title: 'hacked' }, as(alice))).status).toBe(404);
    expect((await http(t.http, 'DELETE', `/api/t/Doc/${globexDoc.id}`, undefined, as(alice))).status).toBe(404);
    const row = await t.dataSource.getRepository(Doc).findOneByOrFail({ id: globexDoc.id });
    expect(row.title).toBe('globex plan');
  });
  it("a create or update cannot move a row out of the writer's scope", async () => {
    const before = await t.dataSource.getRepository(Doc).count();
    expectCode(await a.request('t.Doc.create', { title: 'planted', tenant: 'globex' }), 'forbidden');
    expect(await t.dataSource.getRepository(Doc).count()).toBe(before);
    expectCode(await a.request('t.Doc.update', { id: acmeDoc.id, tenant: 'globex' }), 'forbidden');
    expect((await t.dataSource.getRepository(Doc).findOneByOrFail({ id: acmeDoc.id })).tenant).toBe('acme');
  });
  it('can.delete refuses a member and allows an admin of the same tenant', async () => {
    const c = await TestSocket.open(t.ws, as(carol));
    const doc = (await a.request('t.Doc.create', { title: 'to delete', tenant: 'acme' })).data;
    expectCode(await c.request('t.Doc.delete', { id: doc.id }), 'forbidden');
    expect((await a.request('t.Doc.delete', { id: doc.id })).data).toEqual({ id: doc.id });
    c.close();
  });
  it('custom actions apply can', async () => {
    const c = await TestSocket.open(t.ws, as(carol));
    expectCode(await c.request('t.Doc.archive', {}), 'forbidden');
    expect((await a.request('t.Doc.archive', {})).data).toEqual({ archivedBy: alice.id });
    expect((await http(t.http, 'POST', '/api/t/Doc/archive', {}, as(carol))).status).toBe(403);
    c.close();
  });
});

describe('pushes', () => {
  it("subscribe to the other tenant's object is not_found", async () => {
    expectCode(await a.request('t.Doc.subscribe', { id: globexDoc.id }), 'not_found');
  });
  it("model and filter rooms never carry the other tenant's rows", async () => {
    const a2 = await TestSocket.open(t.ws, as(alice));
    await a2.request('t.Doc.subscribe', {});
    await a2.request('t.Doc.subscribe', { filter: { title: { like: '%' } } });
    const b2 = await TestSocket.open(t.ws, as(bob));
    await b2.request('t.Doc.subscribe', {});
    const repo = t.dataSource.getRepository(Doc);
    // Changes made by application code, through every path.
    const g = await repo.save({ title: 'globex secret', tenant: 'globex' });
    await repo.update({ id: g.id }, { rank: 5 });
    await repo.delete({ id: g.id });
    const own = await repo.save({ title: 'acme news', tenant: 'acme' });
    await b2.waitFor((f) => f.event === 't.Doc.deleted' && f.data.id === g.id);
    await a2.waitFor((f) => f.event === 't.Doc.created' && f.data.id === own.id);
    await settle();
    expect(a2.pushes().map((p) => p.data.tenant)).toEqual(['acme']);
    expect(b2.pushes().map((p) => p.event)).toEqual(['t.Doc.created', 't.Doc.updated', 't.Doc.deleted']);
    a2.close();
    b2.close();
  });
  it('an instance subscriber stops getting pushes once the row leaves its scope', async () => {
    const repo = t.dataSource.getRepository(Doc);
    const doc = await repo.save({ title: 'moving', tenant: 'acme' });
    const a3 = await TestSocket.open(t.ws, as(alice));
    expect((await a3.request('t.Doc.subscribe', { id: doc.id })).data.room).toBe(`t.Doc:${doc.id}`);
    await repo.update({ id: doc.id }, { rank: 1 });
    await a3.waitFor((f) => f.event === 't.Doc.updated');
    await repo.update({ id: doc.id }, { tenant: 'globex', title: 'now globex' });
    await repo.update({ id: doc.id }, { rank: 2 });
    await settle();
    expect(a3.pushes().map((p) => p.data.rank)).toEqual([1]);
    a3.close();
  });
});
