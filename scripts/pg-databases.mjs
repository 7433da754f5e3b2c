// Fresh PostgreSQL databases for the test suites (test/fixtures/database.ts) and the capture
// bench (bench/capture.mjs): each run gets a database of its own and drops it at the end.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Creates a database named `<prefix>_<random hex>` on the server of `url` and returns its URL. */
export async function createPgDatabase(url, prefix) {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin(url, `CREATE DATABASE ${name}`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  return target.toString();
}

/** Drops the database at `target` (made by createPgDatabase) through the server of `url`, closing its connections. */
export function dropPgDatabase(url, target) {
  return admin(url, `DROP DATABASE IF EXISTS ${new URL(target).pathname.slice(1)} WITH (FORCE)`);
}

async function admin(url, sql) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
