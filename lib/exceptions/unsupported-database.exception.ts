/** Thrown at start-up when the DataSource's driver is neither SQLite nor PostgreSQL. */
export class UnsupportedDatabaseException extends Error {
  constructor(type: string) {
    super(`nest-bindings supports SQLite (better-sqlite3) and PostgreSQL; this DataSource is "${type}". Use one of those drivers.`);
    this.name = 'UnsupportedDatabaseException';
  }
}
