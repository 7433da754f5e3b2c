import { Category, Hidden, NoteEntity, Product } from '../fixtures/entities.js';
import { http, settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

let t: TestApp;
beforeAll(async () => { t = await startApp([Product, Category, NoteEntity, Hidden]); });
afterAll(() => t.close());

it('creates, retrieves and pushes', async () => {
  const a = await TestSocket.open(t.ws);
  const b = await TestSocket.open(t.ws);
  const created = await a.request('shop.Product.create', { name: 'Lamp', price: 10 });
  console.log(created);
  const sub = await b.request('shop.Product.subscribe', {});
  console.log(sub);
  const got = await b.request('shop.Product.retrieve', { id: created.data.id });
  console.log(got);
  await a.request('shop.Product.update', { id: created.data.id, price: 12 });
  await settle();
  console.log(b.pushes());
  console.log(await http(t.http, 'GET', '/api/shop/Product?order=-price&filter=' + encodeURIComponent(JSON.stringify({ price: { gte: 1 } }))));
  a.close(); b.close();
});
