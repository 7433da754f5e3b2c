// The write checks of PROTOCOL.md section 3 ("Input is validated with class-validator..."),
// run against binding definitions built from a real TypeORM DataSource (SQLite in memory).
import 'reflect-metadata';
import { Reflector } from '@nestjs/core';
import { Type } from 'class-transformer';
import { IsBoolean, IsDate, IsInt, IsNumber, IsOptional, IsString, Min, ValidateNested } from 'class-validator';
import { Column, CreateDateColumn, DataSource, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { WriteValidator, type WriteMode } from '../../lib/actions/write-validator.js';
import { resolveOptions } from '../../lib/bindings.options.js';
import { Binding, BindingError, type BindingsModuleOptions } from '../../lib/index.js';
import type { BindingDefinition } from '../../lib/registry/binding-definition.js';
import { BindingRegistry } from '../../lib/registry/binding.registry.js';
import { BindingsMetadataAccessor } from '../../lib/registry/metadata.accessor.js';
import { Ticket } from '../fixtures/actions-fixtures.js';
import { Category, NoteEntity, Product } from '../fixtures/entities.js';

class Dimensions {
  @IsInt() @Min(1) width: number;
  @IsInt() height: number;
}

/** One column of each kind the validator knows. */
@Binding({ app: 'unit' })
@Entity()
class Crate {
  @PrimaryGeneratedColumn() id: number;
  @Column('float') @IsNumber() weight: number;
  @Column({ default: false }) @IsBoolean() fragile: boolean;
  @Column({ type: 'datetime', nullable: true }) @IsOptional() @IsDate() shippedAt?: Date | null;
  @Column({ type: 'simple-json', nullable: true }) @IsOptional() @ValidateNested() @Type(() => Dimensions) size?: Dimensions | null;
  @Column({ type: 'varchar', nullable: true }) @IsOptional() @IsString() note?: string | null;
  @Column({ default: () => "'crate'" }) @IsString() label: string;
  @Column('decimal', { precision: 10, scale: 2, nullable: true }) price?: string | null;
  @Column('simple-array', { nullable: true }) tags?: string[] | null;
  @CreateDateColumn() createdAt: Date;
  @UpdateDateColumn() updatedAt: Date;
}

let dataSource: DataSource;
let registry: BindingRegistry;
let validator: WriteValidator;

function makeRegistry(options: BindingsModuleOptions = {}): BindingRegistry {
  return new BindingRegistry(dataSource, resolveOptions(options), new BindingsMetadataAccessor(new Reflector()));
}

beforeAll(async () => {
  dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [Crate, Product, Category, NoteEntity, Ticket], synchronize: true });
  await dataSource.initialize();
  registry = makeRegistry();
  validator = new WriteValidator(resolveOptions());
});
afterAll(() => dataSource.destroy());

const binding = (stream: string): BindingDefinition => registry.get(stream)!;
const crate = () => binding('unit.Crate');
const product = () => binding('shop.Product');

/** The BindingError a check throws (fails the test when it does not throw one). */
async function rejection(definition: BindingDefinition, input: unknown, mode: WriteMode, using = validator): Promise<BindingError> {
  try {
    await using.check(definition, input, mode);
  } catch (error) {
    expect(error).toBeInstanceOf(BindingError);
    expect((error as BindingError).code).toBe('bad_request');
    return error as BindingError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected on ${mode}`);
}

const fieldsOf = (error: BindingError) => (error.details ?? []).map((d) => d.field);
const constraintOf = (error: BindingError, field: string) => error.details?.find((d) => d.field === field)?.constraint;

describe('the definition a binding gets', () => {
  it('requires on create only the columns that are not nullable, generated or defaulted', () => {
    expect(crate().required).toEqual(['weight']);
    expect(product().required).toEqual(['name', 'price']);
    expect(binding('app.Note').required).toEqual(['body']);
  });

  it('makes writable only exposed columns that the database does not generate', () => {
    expect([...crate().writable.keys()]).toEqual(['weight', 'fragile', 'shippedAt', 'size', 'note', 'label', 'price', 'tags']);
    expect([...product().writable.keys()]).toEqual(['name', 'price', 'status', 'categoryId']);
    expect([...binding('app.Note').writable.keys()]).toEqual(['body', 'done']);
  });
});

describe('create', () => {
  it('passes valid input through, converting dates to Date', async () => {
    const checked = await validator.check(
      crate(),
      { weight: 2.5, fragile: true, shippedAt: '2024-03-01T10:00:00Z', size: { width: 2, height: 3 }, note: null, label: 'big' },
      'create',
    );
    expect(checked.expectedVersion).toBeUndefined();
    expect(checked.values).toEqual({
      weight: 2.5,
      fragile: true,
      shippedAt: new Date('2024-03-01T10:00:00Z'),
      size: { width: 2, height: 3 },
      note: null,
      label: 'big',
    });
    expect(checked.values.shippedAt).toBeInstanceOf(Date);
    expect((await validator.check(crate(), { weight: 1, shippedAt: 0 }, 'create')).values.shippedAt).toEqual(new Date(0));
  });

  it('accepts only the required properties', async () => {
    expect((await validator.check(crate(), { weight: 1 }, 'create')).values).toEqual({ weight: 1 });
  });

  it('names every missing required property', async () => {
    const error = await rejection(product(), {}, 'create');
    expect(error.details).toEqual([
      { field: 'name', constraint: 'isDefined', message: 'name is required' },
      { field: 'price', constraint: 'isDefined', message: 'price is required' },
    ]);
  });

  it('reports every problem at once: id, generated columns, unknown and excluded properties, wrong types, missing fields', async () => {
    const error = await rejection(product(), { id: 1, version: 2, secret: 's', colour: 'red', price: 'cheap' }, 'create');
    expect(fieldsOf(error).sort()).toEqual(['colour', 'id', 'name', 'price', 'secret', 'version']);
    expect(constraintOf(error, 'id')).toBe('forbidden');
    expect(constraintOf(error, 'colour')).toBe('whitelist');
    expect(error.details!.find((d) => d.field === 'colour')!.message).toContain('not a known field');
    expect(error.details!.find((d) => d.field === 'secret')!.message).toContain('not writable');
    expect(constraintOf(error, 'price')).toBe('isNumber');
    const dates = await rejection(crate(), { weight: 1, createdAt: '2024-01-01', updatedAt: '2024-01-01' }, 'create');
    expect(fieldsOf(dates).sort()).toEqual(['createdAt', 'updatedAt']);
  });

  it('checks the JSON type of each column kind', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ weight: 'heavy' }, 'weight', 'isNumber'],
      [{ weight: Infinity }, 'weight', 'isNumber'],
      [{ weight: [1] }, 'weight', 'isNumber'],
      [{ fragile: 'yes' }, 'fragile', 'isBoolean'],
      [{ fragile: 1 }, 'fragile', 'isBoolean'],
      [{ shippedAt: 'next week' }, 'shippedAt', 'isDate'],
      [{ shippedAt: true }, 'shippedAt', 'isDate'],
      [{ shippedAt: { $date: 1 } }, 'shippedAt', 'isDate'],
      [{ note: 5 }, 'note', 'isString'],
      [{ note: { toString: 'x' } }, 'note', 'isString'],
      [{ price: { amount: 1 } }, 'price', 'type'],
      [{ price: [1] }, 'price', 'type'],
      [{ tags: 'a,b' }, 'tags', 'type'],
      [{ tags: ['a', 1] }, 'tags', 'type'],
      [{ weight: null }, 'weight', 'isNotEmpty'],
      [{ fragile: null }, 'fragile', 'isNotEmpty'],
    ];
    for (const [fields, field, constraint] of cases) {
      const error = await rejection(crate(), { weight: 1, ...fields }, 'create');
      expect([fields, error.details]).toEqual([fields, [expect.objectContaining({ field, constraint })]]);
    }
  });

  it('takes any finite number in a float column, safe integers only in an int column', async () => {
    expect((await validator.check(crate(), { weight: 1e300 }, 'create')).values.weight).toBe(1e300);
    expect(constraintOf(await rejection(product(), { name: 'a', price: 1e300 }, 'create'), 'price')).toBe('isInt');
    expect(constraintOf(await rejection(product(), { name: 'a', price: 2 ** 53 }, 'create'), 'price')).toBe('isInt');
    expect(constraintOf(await rejection(product(), { name: 'a', price: 1.5 }, 'create'), 'price')).toBe('isInt');
    expect((await validator.check(product(), { name: 'a', price: 2 ** 53 - 1 }, 'create')).values.price).toBe(2 ** 53 - 1);
  });

  it('runs the class-validator rules of the entity and lists each field and constraint', async () => {
    const error = await rejection(product(), { name: '', price: -1, status: 'weird' }, 'create');
    expect(error.message).toBe('Invalid input');
    expect(error.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'name', constraint: 'isLength', message: expect.any(String) }),
        expect.objectContaining({ field: 'price', constraint: 'min' }),
        expect.objectContaining({ field: 'status', constraint: 'isIn' }),
      ]),
    );
    expect(error.details).toHaveLength(3);
  });

  it('names nested fields by their path', async () => {
    const error = await rejection(crate(), { weight: 1, size: { width: 0, height: 'tall' } }, 'create');
    expect(error.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'size.width', constraint: 'min' }),
        expect.objectContaining({ field: 'size.height', constraint: 'isInt' }),
      ]),
    );
  });

  it('takes scalars in scalar columns of other types, JSON in JSON columns, strings in simple-array', async () => {
    const input = { weight: 1, price: '12.50', size: { width: 1, height: 2 }, tags: ['a', 'b'] };
    expect((await validator.check(crate(), input, 'create')).values).toEqual(input);
  });

  it('accepts null in a nullable column', async () => {
    expect((await validator.check(product(), { name: 'n', price: 1, categoryId: null }, 'create')).values).toEqual({ name: 'n', price: 1, categoryId: null });
  });

  it('refuses input that is not a plain object', async () => {
    for (const input of [null, undefined, 'name', 3, [], [{ name: 'a', price: 1 }], new Date(), new (class Fields {})()]) {
      const error = await rejection(product(), input, 'create');
      expect(error.details).toBeUndefined();
    }
  });

  it('bounds strings and JSON values by limits.stringLength', async () => {
    const strict = new WriteValidator(resolveOptions({ limits: { stringLength: 8 } }));
    expect(constraintOf(await rejection(crate(), { weight: 1, note: '123456789' }, 'create', strict), 'note')).toBe('maxLength');
    expect(constraintOf(await rejection(crate(), { weight: 1, size: { width: 100, height: 100 } }, 'create', strict), 'size')).toBe('maxLength');
    expect((await strict.check(crate(), { weight: 1, note: '12345678' }, 'create')).values.note).toBe('12345678');
    expect(constraintOf(await rejection(crate(), { weight: 1, note: 'x'.repeat(10_001) }, 'create'), 'note')).toBe('maxLength');
  });

  it('uses createDto instead of the entity when the binding names one', async () => {
    const ticket = binding('desk.Ticket');
    expect((await validator.check(ticket, { title: 'Jammed', priority: 5 }, 'create')).values).toEqual({ title: 'Jammed', priority: 5 });
    expect(constraintOf(await rejection(ticket, { title: 'no', priority: 6 }, 'create'), 'priority')).toBe('max');
    expect(constraintOf(await rejection(ticket, { title: 'no', priority: 2 }, 'create'), 'title')).toBe('isLength');
  });
});

describe('update', () => {
  it('validates only the properties present', async () => {
    expect((await validator.check(product(), { price: 3 }, 'update')).values).toEqual({ price: 3 });
    expect((await validator.check(product(), {}, 'update')).values).toEqual({});
    expect(constraintOf(await rejection(product(), { price: -3 }, 'update'), 'price')).toBe('min');
    expect(fieldsOf(await rejection(product(), { name: null }, 'update'))).toEqual(['name']);
  });

  it('lets the id through as the name of the row, not as a value', async () => {
    expect((await validator.check(product(), { id: 4, status: 'closed' }, 'update')).values).toEqual({ status: 'closed' });
  });

  it('reads the expected version of a @VersionColumn, which must be an integer', async () => {
    expect(await validator.check(product(), { id: 1, price: 2, version: 3 }, 'update')).toEqual({ values: { price: 2 }, expectedVersion: 3 });
    expect(constraintOf(await rejection(product(), { version: '3' }, 'update'), 'version')).toBe('isInt');
    expect(constraintOf(await rejection(product(), { version: 1.5 }, 'update'), 'version')).toBe('isInt');
    // Without a version column, `version` is an unknown property.
    expect(constraintOf(await rejection(crate(), { version: 1 }, 'update'), 'version')).toBe('whitelist');
  });

  it('refuses unknown, excluded and generated properties', async () => {
    const error = await rejection(product(), { colour: 'red', secret: 'x' }, 'update');
    expect(fieldsOf(error).sort()).toEqual(['colour', 'secret']);
    expect(fieldsOf(await rejection(crate(), { createdAt: '2024-01-01T00:00:00Z' }, 'update'))).toEqual(['createdAt']);
    expect(fieldsOf(await rejection(binding('app.Note'), { deletedAt: '2024-01-01T00:00:00Z' }, 'update'))).toEqual(['deletedAt']);
  });

  it('uses updateDto instead of the entity when the binding names one', async () => {
    const ticket = binding('desk.Ticket');
    expect((await validator.check(ticket, { priority: 2 }, 'update')).values).toEqual({ priority: 2 });
    expect(constraintOf(await rejection(ticket, { priority: 5 }, 'update'), 'priority')).toBe('max');
  });
});
