// A program written against the client's types, checked by tsc (test/client/types.spec.ts),
// never run. It must compile with no diagnostic; each `@ts-expect-error` line says which
// error (TS code) the next line must raise, and the spec checks that it raises exactly that.
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Binding, type BindingOptions, type BindingRow as ServerBindingRow } from '../../lib/index.js';
import type { BindingClient, BindingRow, LiveChange, LiveList, LiveOp, ModelPush, Push, Subscription } from '../../lib/client/index.js';
import { Product } from '../fixtures/entities.js';

type Equal<A, B> = (<V>() => V extends A ? 1 : 2) extends <V>() => V extends B ? 1 : 2 ? true : false;
const expectType = <T extends true>(): T => true as T;

// --- An entity shared by server and client: the options object carries the excluded keys. ---

export const gadgetBinding = { app: 'lab', exclude: ['token', 'note'] } as const satisfies BindingOptions<Gadget>;

@Binding<Gadget>(gadgetBinding)
@Entity()
export class Gadget {
  @PrimaryGeneratedColumn() id: number;
  @Column() label: string;
  @Column() token: string;
  @Column({ nullable: true }) note?: string;
  describe(): string {
    return this.label;
  }
}

// @ts-expect-error 2820: the options object names only the entity's own columns
export const wrongBinding = { exclude: ['tokne'] } as const satisfies BindingOptions<Gadget>;

/** What the client receives, written once next to the entity. */
export type GadgetRow = ServerBindingRow<Gadget, typeof gadgetBinding>;

expectType<Equal<keyof GadgetRow, 'id' | 'label'>>();
expectType<Equal<keyof BindingRow<Product, 'secret'>, 'id' | 'name' | 'price' | 'status' | 'categoryId' | 'category' | 'version'>>();
expectType<Equal<BindingRow<Gadget, 'token' | 'note'>, GadgetRow>>();
expectType<Equal<BindingRow<typeof Gadget, typeof gadgetBinding>, GadgetRow>>();

export async function usage(client: BindingClient): Promise<void> {
  // --- Reads leave excluded columns out. ---
  const products = client.model<Product, 'secret'>('shop.Product');
  const product = await products.retrieve(1);
  const name: string = product.name;
  const id: number = product.id;
  const category: number | null | undefined = product.categoryId;
  // @ts-expect-error 2339: an excluded column is not on the row
  void product.secret;

  const page = await products.list({ filter: { price: { gte: 1 }, status: 'open' }, order: { price: 'DESC' }, limit: 10 });
  const first: string | undefined = page.rows[0]?.name;
  // @ts-expect-error 2339: not on the rows of a page either
  void page.rows[0].secret;
  // @ts-expect-error 2353: an excluded column cannot be filtered
  await products.list({ filter: { secret: 'x' } });
  // @ts-expect-error 2353: nor ordered by
  await products.search({ q: 'lamp', order: { secret: 'ASC' } });

  // --- Writes: no id on create, no excluded column anywhere. ---
  await products.create({ name: 'Lamp', price: 3 });
  await products.create({ name: 'Lamp', price: 3, status: 'closed', categoryId: null });
  // @ts-expect-error 2353: an excluded column is not writable
  await products.create({ name: 'Lamp', price: 3, secret: 's' });
  // @ts-expect-error 2322: clients never choose ids
  await products.create({ id: 7, name: 'Lamp' });
  // @ts-expect-error 2322: a field keeps its column's type
  await products.create({ name: 'Lamp', price: 'cheap' });
  await products.update(1, { price: 4, version: 2 });
  // @ts-expect-error 2353: update cannot write an excluded column
  await products.update(1, { secret: 's' });
  // @ts-expect-error 2322: the id is the first argument, not a field
  await products.update(1, { id: 2, price: 4 });
  const whole: Product = { ...product, secret: 's' };
  // @ts-expect-error 2345: a whole entity (with its id) is not an update
  await products.update(1, whole);
  await products.save({ id: 1, price: 5 });
  await products.save({ name: 'New', price: 1 });
  // @ts-expect-error 2353: save cannot write an excluded column
  await products.save({ id: 1, secret: 's' });

  // --- Pushes: typed names, typed rows. ---
  const sub = await products.subscribe({ id: 1 });
  sub.on('updated', (push) => {
    const price: number = push.data.price;
    const changed: ('id' | 'name' | 'price' | 'status' | 'categoryId' | 'category' | 'version')[] | undefined = push.changes;
    const event: `${string}.updated` = push.event;
    // @ts-expect-error 2339: pushes leave excluded columns out too
    void push.data.secret;
    // @ts-expect-error 2345: `changes` names only the row's columns
    void push.changes?.includes('secret');
    void [price, changed, event];
  });
  sub.on('shop.Product.deleted', (push) => void push.data.id);
  sub.on('created', (push) => void push.data.name);
  sub.on('*', (push: ModelPush<BindingRow<Product, 'secret'>>) => void push.event);
  sub.on('resync', () => undefined);
  const onUpdated = () => undefined;
  sub.on('updated', onUpdated);
  sub.off('updated', onUpdated);
  // @ts-expect-error 2345: off knows the same names
  sub.off('updatd', onUpdated);
  sub.on('error', (error) => void error.code);
  // @ts-expect-error 2769: not an event a subscription gets
  sub.on('update', () => undefined);
  // @ts-expect-error 2769: nor a full name with a wrong last part
  sub.on('shop.Product.changed', () => undefined);
  for await (const push of sub) {
    const kind: `${string}.created` | `${string}.updated` | `${string}.deleted` = push.event;
    const label: string = push.data.name;
    // @ts-expect-error 2339: not while iterating either
    void push.data.secret;
    void [kind, label];
  }
  const kept: Push<BindingRow<Product, 'secret'>>[] = [];
  sub.on('*', (push) => kept.push(push));

  // --- Live lists: typed rows, without excluded columns. ---
  const live: LiveList<BindingRow<Product, 'secret'>> = await products.live({ filter: { status: 'open' }, order: { price: 'DESC' }, limit: 20 });
  const liveName: string | undefined = live.rows[0]?.name;
  const liveCount: number = live.count;
  // @ts-expect-error 2339: an excluded column is not on a live row
  void live.rows[0].secret;
  // @ts-expect-error 2353: nor can a live list filter by it
  await products.live({ filter: { secret: 'x' } });
  // @ts-expect-error 2540: the page is the server's to change
  live.count = 3;
  // @ts-expect-error 2542: its rows too
  live.rows[0] = live.rows[1];
  const found = await products.live({ q: 'lamp', page: 2 });
  live.on('change', (change) => {
    const price: number | undefined = change.rows[0]?.price;
    const reason: 'frame' | 'reload' = change.reason;
    const op: LiveOp<BindingRow<Product, 'secret'>> | undefined = change.ops?.[0];
    if (op?.[0] === 'insert') void op[2].name;
    // @ts-expect-error 2339: the rows of a change leave excluded columns out too
    void change.rows[0].secret;
    void [price, reason];
  });
  live.on('error', (error) => void error.code);
  // @ts-expect-error 2769: not an event a live list has
  live.on('changed', () => undefined);
  for await (const change of found) {
    const kept: LiveChange<BindingRow<Product, 'secret'>> = change;
    // @ts-expect-error 2339: not while iterating either
    void change.rows[0].secret;
    void kept;
  }
  await live.close();

  // --- The options object of the binding, shared with the server. ---
  const gadgets = client.model<GadgetRow>('lab.Gadget');
  const gadget = await gadgets.retrieve(1);
  const label: string = gadget.label;
  // @ts-expect-error 2339: excluded by gadgetBinding
  void gadget.token;
  // @ts-expect-error 2339: methods never travel
  gadget.describe();
  // @ts-expect-error 2353: nor are they written
  await gadgets.create({ label: 'x', note: 'n' });
  const same = client.model<Gadget, typeof gadgetBinding>('lab.Gadget');
  expectType<Equal<Awaited<ReturnType<typeof same.retrieve>>, GadgetRow>>();
  void same;
  const byClass = client.model<typeof Gadget, 'token' | 'note'>('lab.Gadget');
  expectType<Equal<Awaited<ReturnType<typeof byClass.retrieve>>, GadgetRow>>();
  void byClass;
  // @ts-expect-error 2344: only the entity's own keys can be excluded
  client.model<Gadget, 'tokne'>('lab.Gadget');

  // --- A literal stream narrows full event names to its own. ---
  const notes = client.model<{ id: number; body: string }, never, 'app.Note'>('app.Note');
  const noteSub: Subscription<{ id: number; body: string }, 'app.Note'> = await notes.subscribe();
  noteSub.on('app.Note.created', (push) => {
    const event: 'app.Note.created' = push.event;
    const body: string = push.data.body;
    void [event, body];
  });
  // @ts-expect-error 2769: another model's event
  noteSub.on('shop.Product.created', () => undefined);
  const untypedRows = client.model('app.Note');
  (await untypedRows.subscribe()).on('app.Note.updated', (push) => void push.data);
  // @ts-expect-error 2769: the stream's literal type is kept without type arguments
  (await untypedRows.subscribe()).on('app.Other.updated', () => undefined);

  // --- Without a row type everything stays open, as before. ---
  const loose = client.model('shop.Product');
  const row = await loose.retrieve(1);
  const anything: unknown = row.whatever;
  await loose.create({ name: 'x', price: 1, status: 'open' });
  void [name, id, category, first, label, anything, liveName, liveCount];
}
