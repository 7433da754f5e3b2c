// PROTOCOL.md section 5: the OpenAPI 3 document at /api/docs-json and the page at /api/docs.
import { execFile } from 'node:child_process';
import { BindingsDocs } from '../../lib/index.js';
import { ChatHandlers, Gadget, NoteActions, ProductActions, Ticket } from '../fixtures/actions-fixtures.js';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { http, platform, startApp, type TestApp } from '../fixtures/harness.js';

/**
 * Validates with @apidevtools/swagger-parser (OpenAPI 3.0 schema, $refs resolved) in a
 * plain Node process: the package is CommonJS requiring an ES module, which Node loads but
 * jest's VM modules do not.
 */
function validateOpenApi(document: unknown): Promise<string> {
  const script = `let s='';process.stdin.on('data',(d)=>s+=d).on('end',()=>require('@apidevtools/swagger-parser').validate(JSON.parse(s)).then(()=>console.log('valid'),(e)=>console.log(e.message)))`;
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['-e', script], { cwd: process.cwd() }, (error, stdout) => (error ? reject(error) : resolve(stdout.trim())));
    child.stdin!.end(JSON.stringify(document));
  });
}

let t: TestApp;
let doc: any;
beforeAll(async () => {
  t = await startApp(
    [Product, Category, NoteEntity, Gadget, Ticket],
    { publish: { secret: 's' }, docs: { title: 'Shop API', version: '2.1.0' } },
    { providers: [ProductActions, NoteActions, ChatHandlers] },
  );
  const res = await fetch(`${t.http}/api/docs-json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  doc = await res.json();
});
afterAll(() => t.close());

it('is a valid OpenAPI 3 document (validated against the OpenAPI 3.0 schema, $refs resolved)', async () => {
  expect(doc.openapi).toMatch(/^3\.0\.\d$/);
  expect(doc.info).toEqual({ title: 'Shop API', version: '2.1.0', description: expect.any(String) });
  expect(await validateOpenApi(doc)).toBe('valid');
  // The validator does catch a broken document.
  const broken = structuredClone(doc);
  broken.paths['/api/shop/Product'].get.responses['200'].content['application/json'].schema = { $ref: '#/components/schemas/Nope' };
  expect(await validateOpenApi(broken)).toMatch(/Nope|Error resolving|missing/i);
  expect(await validateOpenApi({ ...doc, paths: { '/x': { get: { responses: 'none' } } } })).not.toBe('valid');
  // The same object is what application code gets from BindingsDocs.
  expect(JSON.parse(JSON.stringify(t.app.get(BindingsDocs).document()))).toEqual(doc);
});

it('has one schema per binding with its exposed columns only, typed, and read-only where the server sets them', () => {
  const product = doc.components.schemas['shop.Product'];
  expect(Object.keys(product.properties)).toEqual(['id', 'name', 'price', 'status', 'categoryId', 'version']); // no "secret" (excluded)
  expect(product.properties.id).toEqual({ type: 'integer', readOnly: true });
  expect(product.properties.name).toMatchObject({ type: 'string', minLength: 1, maxLength: 200 });
  expect(product.properties.price).toMatchObject({ type: 'integer', minimum: 0 });
  expect(product.properties.status).toMatchObject({ type: 'string', enum: ['open', 'closed'] });
  expect(product.properties.categoryId).toMatchObject({ type: 'integer', nullable: true });
  expect(product.properties.version).toMatchObject({ type: 'integer', readOnly: true });
  expect(product.required).toEqual(['id', 'name', 'price', 'status', 'version']);
  const note = doc.components.schemas['app.Note'];
  expect(note.properties.createdAt).toEqual({ type: 'string', format: 'date-time', readOnly: true });
  expect(note.properties.done).toEqual({ type: 'boolean' });
  expect(JSON.stringify(doc)).not.toContain('secret"');
});

it('describes create and update bodies from the validation: writable fields, required ones, constraints of the entity or of the DTOs', () => {
  const create = doc.components.schemas['shop.Product.create'];
  expect(create).toMatchObject({ type: 'object', additionalProperties: false, required: ['name', 'price'] });
  expect(Object.keys(create.properties)).toEqual(['name', 'price', 'status', 'categoryId']);
  const update = doc.components.schemas['shop.Product.update'];
  expect(update.required).toBeUndefined();
  expect(Object.keys(update.properties)).toEqual(['name', 'price', 'status', 'categoryId', 'version']);
  // Ticket is validated by createDto/updateDto, with different bounds.
  expect(doc.components.schemas['desk.Ticket.create'].properties.priority).toMatchObject({ type: 'integer', minimum: 1, maximum: 5 });
  expect(doc.components.schemas['desk.Ticket.update'].properties.priority).toMatchObject({ type: 'integer', minimum: 1, maximum: 3 });
  expect(doc.components.schemas['desk.Ticket.create'].properties.title).toMatchObject({ type: 'string', minLength: 3, maxLength: 50 });
});

it('has the REST routes of each binding, only for the actions it serves, with list parameters and custom actions', () => {
  const paths = doc.paths;
  expect(Object.keys(paths['/api/shop/Product'])).toEqual(['get', 'post']);
  expect(Object.keys(paths['/api/shop/Product/{id}'])).toEqual(['get', 'patch', 'put', 'delete']);
  expect(paths['/api/shop/Product/search'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('q');
  const list = paths['/api/shop/Product'].get;
  expect(list.parameters.map((p: any) => p.name)).toEqual(['page', 'limit', 'order', 'filter', 'include']);
  expect(list.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/shop.Product.page' });
  expect(paths['/api/shop/Product'].post.responses['201'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/shop.Product' });
  expect(paths['/api/shop/Product'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/shop.Product.create' });
  expect(paths['/api/shop/Product/publish'].post.operationId).toBe('shop.Product.publish');
  expect(paths['/api/app/Note/archive'].post.operationId).toBe('app.Note.archive');
  // Gadget serves retrieve and list only.
  expect(Object.keys(paths['/api/shop/Gadget'])).toEqual(['get']);
  expect(Object.keys(paths['/api/shop/Gadget/{id}'])).toEqual(['get']);
  expect(paths['/api/shop/Gadget/search']).toBeUndefined();
  expect(paths['/api/shop/Gadget/events']).toBeUndefined();
  expect(Object.keys(paths['/api/shop/Product/events'].get.responses['200'].content)).toEqual(['text/event-stream']);
  expect(paths['/api/events'].post.description).toContain('`chat.send`');
  expect(paths['/api/events'].post.description).toContain('`channel.message`');
  expect(paths['/api/publish'].post.parameters[0]).toMatchObject({ name: 'x-bindings-signature', in: 'header', required: true });
  expect(paths['/api/admin/stats'].get.responses['200']).toBeDefined();
  const operationIds = Object.values(paths).flatMap((item: any) => Object.values(item).map((op: any) => op.operationId));
  expect(new Set(operationIds).size).toBe(operationIds.length);
});

it('serves the Swagger UI page at /api/docs with its assets (not taken by the REST routes); on Fastify only with @fastify/static', async () => {
  if (platform === 'fastify') {
    // @fastify/static is an optional package this project does not install: the page is left
    // out with a warning, the JSON document (beforeAll) and the REST routes are served.
    await expect(import('@fastify/static' as string)).rejects.toThrow();
    expect((await fetch(`${t.http}/api/docs`)).status).toBe(404);
    expect((await fetch(`${t.http}/api/docs-json`)).status).toBe(200);
    expect((await http(t.http, 'GET', '/api/shop/Product')).status).toBe(200);
    return;
  }
  const page = await fetch(`${t.http}/api/docs`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/text\/html/);
  const html = await page.text();
  expect(html).toContain('swagger-ui');
  for (const [asset, type] of [
    ['swagger-ui-bundle.js', /javascript/],
    ['swagger-ui.css', /text\/css/],
    ['swagger-ui-init.js', /javascript/],
  ] as const) {
    const res = await fetch(`${t.http}/api/docs/${asset}`);
    expect([asset, res.status, res.headers.get('content-type')]).toEqual([asset, 200, expect.stringMatching(type)]);
    await res.arrayBuffer();
  }
  // The init script carries our document.
  expect(await (await fetch(`${t.http}/api/docs/swagger-ui-init.js`)).text()).toContain('shop.Product.create');
  // The REST routes still work beside it.
  expect((await http(t.http, 'GET', '/api/shop/Product')).status).toBe(200);
});

it('docs: false serves neither', async () => {
  const off = await startApp([Product, Category], { docs: false });
  try {
    expect((await fetch(`${off.http}/api/docs-json`)).status).toBe(404);
    expect((await fetch(`${off.http}/api/docs`)).status).toBe(404);
  } finally {
    await off.close();
  }
});
