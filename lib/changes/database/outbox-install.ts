import type { DataSource, QueryRunner } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityMetadata } from 'typeorm/metadata/EntityMetadata.js';
import { CAPTURE_FUNCTION, TRUNCATE_TRIGGER, CURSOR_TABLE, NOTIFY_CHANNEL, OUTBOX_ROWS, OUTBOX_TABLE, TRIGGER_PREFIX, TRIM_EVERY } from './outbox-names.js';

/**
 * Installs what `capture: 'database'` needs for the given tables, idempotently: the outbox
 * table, the shared cursor table, and on each table a trigger recording every row change
 * with its before and after state in the same transaction (on PostgreSQL with a NOTIFY,
 * delivered at commit). What is already installed as wanted is left untouched, so a second
 * install changes nothing in the schema; a trigger whose columns changed is replaced.
 * Tables installed earlier and not named now keep their triggers (another service may serve them).
 */
export async function installDatabaseCapture(dataSource: DataSource, tables: readonly EntityMetadata[]): Promise<void> {
  await inTransaction(dataSource, (runner) => (dataSource.options.type === 'postgres' ? installPostgres(runner, tables) : installSqlite(runner, tables)));
}

/**
 * Removes everything `capture: 'database'` installed in the DataSource's database: the trigger
 * on every table, the trigger function, the outbox and the cursor table. Run it once the
 * application no longer uses `capture: 'database'` (instances still running in that mode
 * log read errors until they stop). Running it when nothing is installed does nothing.
 */
export async function removeDatabaseCapture(dataSource: DataSource): Promise<void> {
  await inTransaction(dataSource, async (runner) => {
    if (dataSource.options.type === 'postgres') {
      await lockInstall(runner);
      const triggers: Array<{ name: string; schema: string; table: string }> = await runner.query(
        `SELECT t.tgname AS name, n.nspname AS schema, c.relname AS "table" FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE t.tgname IN ($1, $2)`,
        [CAPTURE_FUNCTION, TRUNCATE_TRIGGER],
      );
      for (const { name, schema, table } of triggers) await runner.query(`DROP TRIGGER IF EXISTS ${ident(name)} ON ${ident(schema)}.${ident(table)}`);
      await runner.query(`DROP FUNCTION IF EXISTS ${CAPTURE_FUNCTION}()`);
    } else {
      const triggers: Array<{ name: string }> = await runner.query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '${TRIGGER_PREFIX}%'`);
      for (const { name } of triggers) await runner.query(`DROP TRIGGER IF EXISTS ${ident(name)}`);
    }
    await runner.query(`DROP TABLE IF EXISTS ${OUTBOX_TABLE}`);
    await runner.query(`DROP TABLE IF EXISTS ${CURSOR_TABLE}`);
  });
}

/** Runs `work` in a transaction on a connection of its own: committed if it resolves, rolled back if it throws. */
async function inTransaction(dataSource: DataSource, work: (runner: QueryRunner) => Promise<void>): Promise<void> {
  const runner = dataSource.createQueryRunner();
  try {
    await runner.startTransaction();
    try {
      await work(runner);
      await runner.commitTransaction();
    } catch (error) {
      await runner.rollbackTransaction();
      throw error;
    }
  } finally {
    await runner.release();
  }
}

/** PostgreSQL: instances installing or removing at the same time do it one after the other. */
function lockInstall(runner: QueryRunner): Promise<unknown> {
  return runner.query(`SELECT pg_advisory_xact_lock(hashtext('${CAPTURE_FUNCTION}'))`);
}

// --- PostgreSQL: one trigger function for every table (to_jsonb of OLD and NEW), one trigger per table ---

async function installPostgres(runner: QueryRunner, tables: readonly EntityMetadata[]): Promise<void> {
  await lockInstall(runner);
  const [{ schema }] = await runner.query(`SELECT current_schema() AS schema`);
  const outbox = `${ident(schema)}.${OUTBOX_TABLE}`;
  const hasTable = (name: string) => exists(runner, `SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2`, [schema, name]);
  if (!(await hasTable(OUTBOX_TABLE))) {
    await runner.query(`CREATE TABLE ${outbox} (id bigserial PRIMARY KEY, tbl text NOT NULL, op char(1) NOT NULL, old_row jsonb, new_row jsonb)`);
  }
  if (!(await hasTable(CURSOR_TABLE))) {
    await runner.query(
      `CREATE TABLE ${ident(schema)}.${CURSOR_TABLE} (name text PRIMARY KEY, last_id bigint NOT NULL, owner text, lease_until bigint NOT NULL DEFAULT 0)`,
    );
    await runner.query(`INSERT INTO ${ident(schema)}.${CURSOR_TABLE} (name, last_id) SELECT 'shared', COALESCE(MAX(id), 0) FROM ${outbox}`);
  }
  // The outbox is named with its schema: writers with another search_path reach the same table.
  const body = `
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    -- Row triggers do not fire for TRUNCATE (TypeORM's clear()): record each row as deleted, before it goes.
    EXECUTE format('INSERT INTO ${outbox.replace(/'/g, "''")} (tbl, op, old_row) SELECT $1, ''D'', to_jsonb(r) FROM %s r', TG_RELID::regclass) USING TG_ARGV[0];
    PERFORM pg_notify('${NOTIFY_CHANNEL}', '');
    DELETE FROM ${outbox} WHERE id <= (SELECT max(id) FROM ${outbox}) - ${OUTBOX_ROWS};
    RETURN NULL;
  END IF;
  INSERT INTO ${outbox} (tbl, op, old_row, new_row)
    VALUES (TG_ARGV[0], left(TG_OP, 1),
      CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
      CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END)
    RETURNING id INTO new_id;
  -- Delivered at commit, once per transaction (equal notifications are folded).
  PERFORM pg_notify('${NOTIFY_CHANNEL}', '');
  IF new_id % ${TRIM_EVERY} = 0 THEN
    DELETE FROM ${outbox} WHERE id <= new_id - ${OUTBOX_ROWS};
  END IF;
  RETURN NULL;
END`;
  const source = `\nDECLARE new_id bigint;${body}\n`;
  // SECURITY DEFINER: the trigger writes the outbox as its owner, so other writers of the bound
  // tables need no privilege on it, and none may read it (whole rows of every table, excluded
  // columns included) or forge rows in it. EXECUTE is revoked from PUBLIC, so nobody else can
  // attach the function to a table of their own to record rows as this owner.
  const current: Array<{ src: string; definer: boolean; config: string[] | null; acl: unknown }> = await runner.query(
    `SELECT p.prosrc AS src, p.prosecdef AS definer, p.proconfig AS config, p.proacl AS acl FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.proname = $1 AND n.nspname = $2`,
    [CAPTURE_FUNCTION, schema],
  );
  const wanted = current[0]?.src === source && current[0].definer && current[0].config?.join() === 'search_path=pg_catalog, pg_temp' && current[0].acl !== null;
  if (!wanted) {
    const fn = `${ident(schema)}.${CAPTURE_FUNCTION}()`;
    await runner.query(
      `CREATE OR REPLACE FUNCTION ${fn} RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $nb$${source}$nb$`,
    );
    await runner.query(`REVOKE EXECUTE ON FUNCTION ${fn} FROM PUBLIC`);
  }
  for (const metadata of tables) {
    const table = qualified(metadata);
    const call = `${ident(schema)}.${CAPTURE_FUNCTION}(${literal(metadata.tablePath)})`;
    for (const [name, when] of [
      [CAPTURE_FUNCTION, 'AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW'],
      [TRUNCATE_TRIGGER, 'BEFORE TRUNCATE ON %s FOR EACH STATEMENT'],
    ]) {
      if (await exists(runner, `SELECT 1 FROM pg_trigger WHERE tgname = $1 AND tgrelid = $2::regclass`, [name, table])) continue;
      await runner.query(`CREATE TRIGGER ${name} ${when.replace('%s', table)} EXECUTE FUNCTION ${call}`);
    }
  }
}

// --- SQLite: three triggers per table, each listing the table's columns in json_object ---

async function installSqlite(runner: QueryRunner, tables: readonly EntityMetadata[]): Promise<void> {
  const wanted = new Map<string, string>();
  wanted.set(
    `${TRIGGER_PREFIX}outbox_trim`,
    // The bound holds without any reader: every TRIM_EVERY-th insert drops the rows far behind it.
    `CREATE TRIGGER ${ident(`${TRIGGER_PREFIX}outbox_trim`)} AFTER INSERT ON ${OUTBOX_TABLE} WHEN NEW.id % ${TRIM_EVERY} = 0 BEGIN DELETE FROM ${OUTBOX_TABLE} WHERE id <= NEW.id - ${OUTBOX_ROWS}; END`,
  );
  for (const metadata of tables) {
    const table = qualified(metadata);
    const columns = metadata.columns.filter((c) => !c.isVirtual && !c.embeddedMetadata);
    const insert = (op: string, oldRow: string, newRow: string) =>
      `INSERT INTO ${OUTBOX_TABLE} (tbl, op, old_row, new_row) VALUES (${literal(metadata.tablePath)}, '${op}', ${oldRow}, ${newRow})`;
    for (const [event, op, oldRow, newRow] of [
      ['INSERT', 'I', 'NULL', sqliteJson('NEW', columns)],
      ['UPDATE', 'U', sqliteJson('OLD', columns), sqliteJson('NEW', columns)],
      ['DELETE', 'D', sqliteJson('OLD', columns), 'NULL'],
    ] as const) {
      const name = `${TRIGGER_PREFIX}${metadata.tablePath}_${event.toLowerCase()}`;
      wanted.set(name, `CREATE TRIGGER ${ident(name)} AFTER ${event} ON ${table} BEGIN ${insert(op, oldRow, newRow)}; END`);
    }
  }
  await runner.query(
    `CREATE TABLE IF NOT EXISTS ${OUTBOX_TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, op TEXT NOT NULL, old_row TEXT, new_row TEXT)`,
  );
  if (!(await exists(runner, `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, [CURSOR_TABLE]))) {
    await runner.query(`CREATE TABLE ${CURSOR_TABLE} (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL, owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0)`);
    await runner.query(`INSERT INTO ${CURSOR_TABLE} (name, last_id) SELECT 'shared', COALESCE(MAX(id), 0) FROM ${OUTBOX_TABLE}`);
  }
  const present: Array<{ name: string; sql: string }> = await runner.query(`SELECT name, sql FROM sqlite_master WHERE type = 'trigger'`);
  const current = new Map(present.map((t) => [t.name, t.sql]));
  for (const [name, sql] of wanted) {
    if (current.get(name) === sql) continue;
    if (current.has(name)) await runner.query(`DROP TRIGGER ${ident(name)}`);
    await runner.query(sql);
  }
}

/**
 * The row as a JSON object keyed by column name. json_object takes at most 127 arguments,
 * so wide tables are built in parts and merged; blobs (which JSON cannot hold) as hex.
 */
function sqliteJson(ref: 'OLD' | 'NEW', columns: readonly ColumnMetadata[]): string {
  const parts: string[] = [];
  for (let i = 0; i < columns.length; i += 60) {
    const pairs = columns.slice(i, i + 60).map((c) => {
      const value = `${ref}.${ident(c.databaseName)}`;
      return `${literal(c.databaseName)}, ${isBlob(c) ? `hex(${value})` : value}`;
    });
    parts.push(`json_object(${pairs.join(', ')})`);
  }
  return parts.reduce((merged, part) => `json_patch(${merged}, ${part})`);
}

export function isBlob(column: ColumnMetadata): boolean {
  return column.type === 'blob' || column.type === 'bytea' || (column.type as unknown) === Buffer;
}

async function exists(runner: QueryRunner, sql: string, params: unknown[]): Promise<boolean> {
  return (await runner.query(sql, params)).length > 0;
}

function qualified(metadata: EntityMetadata): string {
  return metadata.tablePath.split('.').map(ident).join('.');
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
