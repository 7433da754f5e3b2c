import type { DataSource } from 'typeorm';

/**
 * The DataSource of a server with no entities. The bindings module discovers `@Binding`
 * entities from a TypeORM DataSource; the standalone server has none, and opening a real
 * database (even SQLite in memory) would need a driver package installed only for that. So
 * this one has no driver and no connection: it lists no entities and no subscribers, says
 * it is SQLite (the dialect of the code paths that never run without entities), and any
 * query throws. Channel history then lives in memory (MemoryMessageStore), bounded in bytes.
 */
export function entitylessDataSource(): DataSource {
  const noDatabase = () => {
    throw new Error('The standalone server has no database');
  };
  const source = {
    options: { type: 'sqljs' },
    isInitialized: true,
    entityMetadatas: [],
    subscribers: [],
    hasMetadata: () => false,
    getRepository: noDatabase,
    transaction: noDatabase,
    createQueryRunner: noDatabase,
    query: noDatabase,
    get manager() {
      return noDatabase();
    },
    get driver() {
      return noDatabase();
    },
  };
  return source as unknown as DataSource;
}
