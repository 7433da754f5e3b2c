import { IsInt, IsString, Min } from 'class-validator';
import { DataSource, Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Binding } from '../../lib/index.js';

/** The row every benchmark reads: the same table for the hand-written apps and the bindings. */
@Binding({
  app: 'shop',
  // Hooks in place, as a real application has them: they allow everything, cheaply.
  scope: () => ({ status: { ne: 'hidden' } }),
  can: { retrieve: () => true, subscribe: () => true },
  autoSubscribe: ['retrieve'],
})
@Entity('product')
export class Product {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() name: string;
  @Column('int') @IsInt() @Min(0) price: number;
  @Column({ default: 'open' }) status: string;
}

export const ROWS = 10_000;

/** Fills the table once (the first server to start does it). */
export async function seed(dataSource: DataSource): Promise<void> {
  const repo = dataSource.getRepository(Product);
  if ((await repo.count()) >= ROWS) return;
  await dataSource.transaction(async (manager) => {
    for (let i = 0; i < ROWS; i += 500) {
      await manager.insert(
        Product,
        Array.from({ length: 500 }, (_, j) => ({ name: `Product ${i + j + 1}`, price: (i + j) % 1000 })),
      );
    }
  });
}

export function databaseOptions(file: string) {
  return { type: 'better-sqlite3' as const, database: file, entities: [Product], synchronize: true, enableWAL: true };
}
