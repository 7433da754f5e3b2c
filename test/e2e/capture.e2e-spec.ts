import { Brackets, Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Binding } from '../../lib/index.js';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';
import { settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';

/**
 * PROTOCOL.md section 4, change capture: every mutation made by application code through
 * TypeORM (not through a binding) pushes once, after commit, with the right event, data
 * and changes; rolled-back changes never push.
 */

/** Like Product's `secret`, but without a version column, so a secret-only update changes nothing exposed. */
@Binding({ app: 'shop', exclude: ['secret'] })
@Entity()
class Account {
  @PrimaryGeneratedColumn() id: number;
  @Column() owner: string;
  @Column({ type: 'varchar', nullable: true }) secret?: string | null;
}

/** Column names that differ from the property names, and a reserved word as a column. */
@Binding({ app: 'shop' })
@Entity({ name: 'ledger_line' })
class LedgerLine {
  @PrimaryGeneratedColumn({ name: 'line_id' }) id: number;
  @Column({ name: 'unit_price', type: 'int' }) unitPrice: number;
  @Column({ type: 'int' }) order: number;
}

let t: TestApp;
let s: TestSocket;
let n = 0;
const unique = (prefix = 'p') => `${prefix}-${++n}`;

beforeAll(async () => {
  t = await startApp([Product, Category, NoteEntity, Account, LedgerLine]);
  s = await TestSocket.open(t.ws);
  for (const stream of ['shop.Product', 'app.Note', 'shop.Account', 'shop.LedgerLine']) {
    expect((await s.request(`${stream}.subscribe`, {})).data).toEqual({ room: stream, seq: 0 });
  }
});
afterAll(async () => {
  s.close();
  await t.close();
});
beforeEach(() => {
  s.frames.length = 0;
});

const products = () => t.dataSource.getRepository(Product);
const notes = () => t.dataSource.getRepository(NoteEntity);

/** Waits for `count` pushes, then a little longer so that any extra push would show. */
async function pushes(count: number, wait = 60): Promise<any[]> {
  if (count > 0) await s.waitFor(() => s.pushes().length >= count);
  await settle(wait);
  return s.pushes();
}

/** A product row written without going through capture-relevant code paths of the test. */
async function seedProduct(fields: Partial<Product> = {}): Promise<Product> {
  const saved = await products().save(products().create({ name: unique(), price: 10, secret: 's3cret', ...fields }));
  await pushes(1, 0);
  s.frames.length = 0;
  return saved;
}

function exposed(p: { id: number; name: string; price: number; status?: string; version: number; categoryId?: number | null }) {
  return { id: p.id, name: p.name, price: p.price, status: p.status ?? 'open', categoryId: p.categoryId ?? null, version: p.version };
}

function expectNoSecret(push: any) {
  expect(push.data).not.toHaveProperty('secret');
  expect(JSON.stringify(push)).not.toContain('s3cret');
  expect(push.changes ?? []).not.toContain('secret');
}

describe('repository and manager writes outside any binding', () => {
  it('repository.save(new) pushes created with the full exposed object', async () => {
    const name = unique();
    const saved = await products().save(products().create({ name, price: 5, secret: 's3cret' }));
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push).toMatchObject({
      event: 'shop.Product.created',
      room: 'shop.Product',
      data: { id: saved.id, name, price: 5, status: 'open', categoryId: null, version: 1 },
    });
    expect(push.changes).toBeUndefined();
    expect(push.id).toBeUndefined();
    expectNoSecret(push);
  });

  it('manager.save(new) pushes created', async () => {
    const name = unique();
    const saved = await t.dataSource.manager.save(Product, { name, price: 6, secret: 's3cret' });
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.created');
    expect(push.data).toEqual(exposed({ id: saved.id, name, price: 6, version: 1 }));
    expectNoSecret(push);
  });

  it('repository.save(existing) pushes updated with the changed fields', async () => {
    const p = await seedProduct({ price: 10 });
    const loaded = (await products().findOneBy({ id: p.id }))!;
    loaded.price = 11;
    await products().save(loaded);
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.updated');
    expect(push.data).toEqual(exposed({ ...p, price: 11, version: 2 }));
    expect([...push.changes].sort()).toEqual(['price', 'version']);
    expectNoSecret(push);
  });

  it('manager.save(existing) pushes updated', async () => {
    const p = await seedProduct({ price: 10 });
    await t.dataSource.manager.save(Product, { ...p, status: 'closed' });
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.updated');
    expect(push.data).toEqual(exposed({ ...p, status: 'closed', version: 2 }));
    expect(push.changes).toContain('status');
    expect(push.changes).not.toContain('price');
  });

  it('repository.save of a partial object with an id pushes the full new state', async () => {
    const p = await seedProduct({ price: 10 });
    await products().save({ id: p.id, price: 12 });
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.updated');
    expect(push.data).toEqual(exposed({ ...p, price: 12, version: 2 }));
  });

  it('repository.save of several entities pushes one change each', async () => {
    const p = await seedProduct({ price: 10 });
    const [a, b] = [unique(), unique()];
    await products().save([products().create({ name: a, price: 1 }), { ...p, price: 13 }, products().create({ name: b, price: 2 })]);
    const got = await pushes(3);
    expect(got).toHaveLength(3);
    expect(
      got
        .filter((x) => x.event === 'shop.Product.created')
        .map((x) => x.data.name)
        .sort(),
    ).toEqual([a, b].sort());
    expect(got.filter((x) => x.event === 'shop.Product.updated').map((x) => x.data)).toEqual([exposed({ ...p, price: 13, version: 2 })]);
  });

  it('a save that changes nothing pushes nothing', async () => {
    const p = await seedProduct();
    await products().save((await products().findOneBy({ id: p.id }))!);
    expect(await pushes(0)).toEqual([]);
  });

  it('repository.insert pushes created with the row as stored (defaults included)', async () => {
    const name = unique();
    const result = await products().insert({ name, price: 7, secret: 's3cret' });
    const id = result.identifiers[0].id;
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.created');
    expect(push.data).toEqual(exposed({ id, name, price: 7, version: 1 }));
    expectNoSecret(push);
  });

  it('manager.insert of several rows pushes one created per row', async () => {
    const [a, b] = [unique(), unique()];
    await t.dataSource.manager.insert(Product, [
      { name: a, price: 1 },
      { name: b, price: 2 },
    ]);
    const got = await pushes(2);
    expect(got).toHaveLength(2);
    expect(got.map((p) => p.event)).toEqual(['shop.Product.created', 'shop.Product.created']);
    expect(got.map((p) => p.data.name).sort()).toEqual([a, b].sort());
  });

  it('repository.update(where, values) pushes updated with the full new state', async () => {
    const p = await seedProduct({ price: 10 });
    await products().update({ id: p.id }, { price: 20 });
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.updated');
    expect(push.data).toEqual(exposed({ ...p, price: 20, version: 2 }));
    expect([...push.changes].sort()).toEqual(['price', 'version']);
    expectNoSecret(push);
  });

  it('manager.update with a where matching several rows pushes one updated per row', async () => {
    const a = await seedProduct({ price: 1000 });
    const b = await seedProduct({ price: 1000 });
    await t.dataSource.manager.update(Product, { price: 1000 }, { status: 'closed' });
    const got = await pushes(2);
    expect(got).toHaveLength(2);
    expect(got.every((p) => p.event === 'shop.Product.updated' && p.data.status === 'closed' && p.changes.includes('status'))).toBe(true);
    expect(got.map((p) => p.data.id).sort()).toEqual([a.id, b.id].sort());
  });

  it('repository.delete(id) pushes deleted with the last state', async () => {
    const p = await seedProduct({ price: 33 });
    await products().delete(p.id);
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.deleted');
    expect(push.data).toEqual(exposed(p));
    expectNoSecret(push);
  });

  it('repository.delete(where) pushes deleted for every matching row', async () => {
    const a = await seedProduct({ price: 4242 });
    const b = await seedProduct({ price: 4242 });
    const other = await seedProduct({ price: 4243 });
    await products().delete({ price: 4242 });
    const got = await pushes(2);
    expect(got).toHaveLength(2);
    expect(got.every((p) => p.event === 'shop.Product.deleted')).toBe(true);
    expect(got.map((p) => p.data).sort((x, y) => x.id - y.id)).toEqual([exposed(a), exposed(b)]);
    expect(got.map((p) => p.data.id)).not.toContain(other.id);
  });

  it('manager.delete(Entity, id) pushes deleted', async () => {
    const p = await seedProduct();
    await t.dataSource.manager.delete(Product, p.id);
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push).toMatchObject({ event: 'shop.Product.deleted', data: exposed(p) });
  });

  it('a delete that matches no row pushes nothing', async () => {
    await products().delete({ price: 987654 });
    expect(await pushes(0)).toEqual([]);
  });

  it('repository.remove pushes deleted with the last state and its id', async () => {
    const p = await seedProduct({ price: 44 });
    const loaded = (await products().findOneBy({ id: p.id }))!;
    await products().remove(loaded);
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.deleted');
    expect(push.data).toEqual(exposed(p));
    expectNoSecret(push);
  });

  it('manager.remove pushes deleted', async () => {
    const p = await seedProduct();
    await t.dataSource.manager.remove(await t.dataSource.manager.findOneByOrFail(Product, { id: p.id }));
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push).toMatchObject({ event: 'shop.Product.deleted', data: exposed(p) });
  });

  it('repository.increment pushes updated with the incremented value', async () => {
    const p = await seedProduct({ price: 10 });
    await products().increment({ id: p.id }, 'price', 5);
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.updated');
    expect(push.data.price).toBe(15);
    expect(push.changes).toContain('price');
  });

  it('repository.decrement pushes updated', async () => {
    const p = await seedProduct({ price: 10 });
    await products().decrement({ id: p.id }, 'price', 3);
    const [push] = await pushes(1);
    expect(push).toMatchObject({ event: 'shop.Product.updated', data: { id: p.id, price: 7 } });
  });
});

describe('soft deletion (Note has a @DeleteDateColumn)', () => {
  async function seedNote(body = unique('note')): Promise<NoteEntity> {
    const note = await notes().save(notes().create({ body }));
    await pushes(1, 0);
    s.frames.length = 0;
    return note;
  }

  it('save(new) pushes created with the dates serialized', async () => {
    const note = await notes().save(notes().create({ body: 'hello' }));
    const [push] = await pushes(1);
    expect(push.event).toBe('app.Note.created');
    expect(push.data).toMatchObject({ id: note.id, body: 'hello', done: false, deletedAt: null });
    expect(typeof push.data.createdAt).toBe('string');
  });

  it('softRemove pushes deleted with the last (not yet deleted) state', async () => {
    const note = await seedNote();
    const loaded = (await notes().findOneBy({ id: note.id }))!;
    await notes().softRemove(loaded);
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('app.Note.deleted');
    expect(push.data).toMatchObject({ id: note.id, body: note.body, deletedAt: null });
  });

  it('softDelete(id) pushes deleted', async () => {
    const note = await seedNote();
    await notes().softDelete(note.id);
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('app.Note.deleted');
    expect(push.data).toMatchObject({ id: note.id, body: note.body, deletedAt: null });
  });

  it('softDelete of an already soft-deleted row pushes nothing more', async () => {
    const note = await seedNote();
    await notes().softDelete(note.id);
    await pushes(1);
    s.frames.length = 0;
    await notes().softDelete(note.id);
    expect(await pushes(0)).toEqual([]);
  });

  it('restore pushes the row as created again (it re-enters every set)', async () => {
    const note = await seedNote();
    await notes().softDelete(note.id);
    await pushes(1);
    s.frames.length = 0;
    await notes().restore(note.id);
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('app.Note.created');
    expect(push.data).toMatchObject({ id: note.id, body: note.body, deletedAt: null });
  });

  it('restore of a row that is not deleted pushes nothing', async () => {
    const note = await seedNote();
    await notes().restore(note.id);
    expect(await pushes(0)).toEqual([]);
  });

  it('an update of a soft-deleted row pushes nothing (nobody can see it)', async () => {
    const note = await seedNote();
    await notes().softDelete(note.id);
    await pushes(1);
    s.frames.length = 0;
    await notes().update({ id: note.id }, { body: 'ghost' });
    expect(await pushes(0)).toEqual([]);
  });
});

describe('QueryBuilder statements', () => {
  it('.update().set().where() pushes updated for each row', async () => {
    const p = await seedProduct({ price: 50 });
    await t.dataSource.createQueryBuilder().update(Product).set({ price: 51 }).where('id = :id', { id: p.id }).execute();
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.updated');
    expect(push.data).toEqual(exposed({ ...p, price: 51, version: 2 }));
    expect(push.changes).toContain('price');
  });

  it('a repository QueryBuilder with an alias pushes too', async () => {
    const p = await seedProduct({ price: 60 });
    await products().createQueryBuilder('product').update().set({ status: 'closed' }).where('id = :id', { id: p.id }).execute();
    const [push] = await pushes(1);
    expect(push).toMatchObject({ event: 'shop.Product.updated', data: { id: p.id, status: 'closed' } });
  });

  it('.delete().where() pushes deleted with the last state', async () => {
    const p = await seedProduct({ price: 70 });
    await t.dataSource.createQueryBuilder().delete().from(Product).where('id = :id', { id: p.id }).execute();
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.event).toBe('shop.Product.deleted');
    expect(push.data).toEqual(exposed(p));
    expectNoSecret(push);
  });

  it('.softDelete().where() pushes deleted', async () => {
    const note = await notes().save(notes().create({ body: unique('qb') }));
    await pushes(1);
    s.frames.length = 0;
    await notes().createQueryBuilder().softDelete().where('id = :id', { id: note.id }).execute();
    const [push] = await pushes(1);
    expect(push).toMatchObject({ event: 'app.Note.deleted', data: { id: note.id } });
  });

  it('.insert().into().values() pushes created', async () => {
    const name = unique();
    await t.dataSource.createQueryBuilder().insert().into(Product).values({ name, price: 90 }).execute();
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push).toMatchObject({ event: 'shop.Product.created', data: { name, price: 90, status: 'open', version: 1 } });
  });

  it('where clauses with aliases, objects, ids and brackets select the right rows', async () => {
    const [a, b, c] = [await seedProduct({ price: 3100 }), await seedProduct({ price: 3100 }), await seedProduct({ price: 3200 })];
    await products().createQueryBuilder('product').update().set({ status: 'closed' }).where('product.price = :price', { price: 3100 }).execute();
    expect((await pushes(2)).map((x) => x.data.id).sort()).toEqual([a.id, b.id].sort());
    s.frames.length = 0;
    await products().createQueryBuilder().update().set({ price: 3300 }).whereInIds([c.id]).execute();
    expect((await pushes(1)).map((x) => [x.data.id, x.data.price])).toEqual([[c.id, 3300]]);
    s.frames.length = 0;
    await products()
      .createQueryBuilder()
      .update()
      .set({ price: 3400 })
      .where({ status: 'closed', price: 3100 })
      .andWhere(new Brackets((w) => w.where('id <> :id', { id: b.id }).orWhere('id IS NULL')))
      .execute();
    expect((await pushes(1)).map((x) => [x.data.id, x.data.price])).toEqual([[a.id, 3400]]);
    s.frames.length = 0;
    await t.dataSource.createQueryBuilder().delete().from(Product).where('price = :one', { one: 3400 }).orWhere('price = :two', { two: 3300 }).execute();
    expect((await pushes(2)).map((x) => [x.event, x.data.id]).sort()).toEqual(
      [
        ['shop.Product.deleted', a.id],
        ['shop.Product.deleted', c.id],
      ].sort(),
    );
  });

  it('statements naming properties whose columns are named otherwise (or are reserved words) run and push', async () => {
    const lines = t.dataSource.getRepository(LedgerLine);
    const line = await lines.save({ unitPrice: 5, order: 1 });
    await pushes(1);
    s.frames.length = 0;
    await lines.update({ unitPrice: 5, order: 1 }, { unitPrice: 6 });
    await lines.createQueryBuilder().update().set({ order: 2 }).where('unitPrice = :p', { p: 6 }).execute();
    await lines.increment({ order: 2 }, 'unitPrice', 1);
    const got = await pushes(3);
    expect(got.map((x) => [x.event, x.data, x.changes])).toEqual([
      ['shop.LedgerLine.updated', { id: line.id, unitPrice: 6, order: 1 }, ['unitPrice']],
      ['shop.LedgerLine.updated', { id: line.id, unitPrice: 6, order: 2 }, ['order']],
      ['shop.LedgerLine.updated', { id: line.id, unitPrice: 7, order: 2 }, ['unitPrice']],
    ]);
    s.frames.length = 0;
    await lines.delete({ order: 2 });
    expect((await pushes(1)).map((x) => [x.event, x.data])).toEqual([['shop.LedgerLine.deleted', { id: line.id, unitPrice: 7, order: 2 }]]);
  });

  it('callListeners(false) opts a statement out of pushes', async () => {
    const p = await seedProduct({ price: 80 });
    await t.dataSource.createQueryBuilder().update(Product).set({ price: 81 }).where('id = :id', { id: p.id }).callListeners(false).execute();
    await t.dataSource.createQueryBuilder().delete().from(Product).where('id = :id', { id: p.id }).callListeners(false).execute();
    expect(await pushes(0)).toEqual([]);
    // The statements did run.
    expect(await products().findOneBy({ id: p.id })).toBeNull();
  });
});

describe('excluded columns', () => {
  it('an update changing only the excluded column pushes nothing', async () => {
    const accounts = t.dataSource.getRepository(Account);
    const a = await accounts.save({ owner: 'ann', secret: 'one' });
    const [created] = await pushes(1);
    expect(created.data).toEqual({ id: a.id, owner: 'ann' });
    s.frames.length = 0;

    await accounts.update({ id: a.id }, { secret: 'two' });
    await accounts.save({ ...a, secret: 'three' });
    await t.dataSource.createQueryBuilder().update(Account).set({ secret: 'four' }).where('id = :id', { id: a.id }).execute();
    expect(await pushes(0)).toEqual([]);
    expect((await accounts.findOneBy({ id: a.id }))!.secret).toBe('four');

    await accounts.update({ id: a.id }, { owner: 'bob', secret: 'five' });
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.data).toEqual({ id: a.id, owner: 'bob' });
    expect(push.changes).toEqual(['owner']);
  });

  it('on a versioned entity a secret-only update pushes the new version, never the secret', async () => {
    // The version column is exposed and TypeORM bumps it: clients need it for their next update.
    const p = await seedProduct();
    await products().update({ id: p.id }, { secret: 'other-s3cret' });
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push.changes).toEqual(['version']);
    expect(push.data).toEqual(exposed({ ...p, version: 2 }));
    expect(JSON.stringify(push)).not.toContain('s3cret');
  });
});

describe('transactions', () => {
  it('a change inside a transaction pushes only after commit', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let inside!: () => void;
    const reached = new Promise<void>((r) => (inside = r));
    const name = unique();
    const done = t.dataSource.transaction(async (m) => {
      await m.save(Product, { name, price: 1 });
      await m.update(Product, { name }, { price: 2 });
      inside();
      await gate;
    });
    await reached;
    await settle(100);
    expect(s.pushes()).toEqual([]);
    release();
    await done;
    const got = await pushes(2);
    expect(got.map((p) => p.event)).toEqual(['shop.Product.created', 'shop.Product.updated']);
    expect(got[1].data).toMatchObject({ name, price: 2 });
  });

  it('a transaction that throws pushes nothing', async () => {
    const p = await seedProduct({ price: 5 });
    await expect(
      t.dataSource.transaction(async (m) => {
        await m.save(Product, { name: unique(), price: 1 });
        await m.update(Product, { id: p.id }, { price: 6 });
        await m.delete(Product, p.id);
        await m.getRepository(Product).insert({ name: unique(), price: 2 });
        throw new Error('nope');
      }),
    ).rejects.toThrow('nope');
    await settle(150);
    expect(s.pushes()).toEqual([]);
    expect((await products().findOneBy({ id: p.id }))!.price).toBe(5);
  });

  it('a query runner transaction pushes on commit and not on rollback', async () => {
    const runner = t.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      await runner.manager.save(Product, { name: unique(), price: 1 });
      await settle(80);
      expect(s.pushes()).toEqual([]);
      await runner.rollbackTransaction();
      await settle(80);
      expect(s.pushes()).toEqual([]);

      const name = unique();
      await runner.startTransaction();
      await runner.manager.save(Product, { name, price: 1 });
      await runner.commitTransaction();
      const [push, ...rest] = await pushes(1);
      expect(rest).toEqual([]);
      expect(push.data.name).toBe(name);
    } finally {
      await runner.release();
    }
  });

  it('a savepoint rolled back inside a committed transaction pushes only the outer changes', async () => {
    const outerName = unique('outer');
    const innerName = unique('inner');
    const runner = t.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      await runner.manager.save(Product, { name: outerName, price: 1 });
      await runner.startTransaction();
      await runner.manager.save(Product, { name: innerName, price: 2 });
      await runner.manager.update(Product, { name: outerName }, { price: 3 });
      await runner.rollbackTransaction();
      await settle(80);
      expect(s.pushes()).toEqual([]);
      await runner.commitTransaction();
    } finally {
      await runner.release();
    }
    const got = await pushes(1);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ event: 'shop.Product.created', data: { name: outerName, price: 1 } });
    expect(JSON.stringify(got)).not.toContain(innerName);
  });

  it('a savepoint released (committed) inside the outer transaction pushes with it, after the outer commit', async () => {
    const outerName = unique('outer');
    const innerName = unique('inner');
    const runner = t.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      await runner.manager.save(Product, { name: outerName, price: 1 });
      await runner.startTransaction();
      await runner.manager.save(Product, { name: innerName, price: 2 });
      await runner.commitTransaction();
      await settle(80);
      expect(s.pushes()).toEqual([]);
      await runner.commitTransaction();
    } finally {
      await runner.release();
    }
    const got = await pushes(2);
    expect(got.map((p) => p.data.name)).toEqual([outerName, innerName]);
  });

  it('a savepoint released, then a later savepoint at the same level rolled back: the released one still pushes', async () => {
    const [outerName, keptName, droppedName] = [unique('outer'), unique('kept'), unique('dropped')];
    const runner = t.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      await runner.manager.save(Product, { name: outerName, price: 1 });
      await runner.startTransaction();
      await runner.manager.save(Product, { name: keptName, price: 2 });
      await runner.commitTransaction();
      await runner.startTransaction();
      await runner.manager.save(Product, { name: droppedName, price: 3 });
      await runner.rollbackTransaction();
      await runner.commitTransaction();
    } finally {
      await runner.release();
    }
    const got = await pushes(2);
    expect(got.map((p) => p.data.name)).toEqual([outerName, keptName]);
  });

  it('a QueryBuilder statement inside a rolled-back transaction pushes nothing', async () => {
    const p = await seedProduct({ price: 9 });
    await expect(
      t.dataSource.transaction(async (m) => {
        await m.createQueryBuilder().update(Product).set({ price: 10 }).where('id = :id', { id: p.id }).execute();
        await m.createQueryBuilder().delete().from(Product).where('id = :id', { id: p.id }).execute();
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    await settle(150);
    expect(s.pushes()).toEqual([]);
  });

  it('a change through a binding pushes once, like any other write', async () => {
    const created = await s.request('shop.Product.create', { name: unique(), price: 3 });
    const [push, ...rest] = await pushes(1);
    expect(rest).toEqual([]);
    expect(push).toMatchObject({ event: 'shop.Product.created', data: created.data });
  });
});
