import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { WsAdapter } from '@nestjs/platform-ws';
import { TypeOrmModule } from '@nestjs/typeorm';
import pg from 'pg';
import { Column, CreateDateColumn, DataSource, DeleteDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, type DataSourceOptions } from 'typeorm';
import { Binding, BindingsModule, InvalidOptionsException, removeDatabaseCapture, type BindingsModuleOptions } from '../../lib/index.js';
import { resolveOptions } from '../../lib/bindings.options.js';
import { DatabaseCapture } from '../../lib/changes/database/database-capture.js';
import { installDatabaseCapture } from '../../lib/changes/database/outbox-install.js';
import { OUTBOX_ROWS, TRIM_EVERY } from '../../lib/changes/database/outbox-names.js';
import { PostgresOutbox } from '../../lib/changes/database/postgres-outbox.js';
import { SqliteOutbox } from '../../lib/changes/database/sqlite-outbox.js';
import { createTestDatabase, testDb } from '../fixtures/database.js';
import { createApp, settle, TestSocket } from '../fixtures/harness.js';
import { alice, as, authenticateFromHeader, bob } from '../fixtures/tenancy-fixtures.js';

/**
 * PROTOCOL.md section 10: with `capture: 'database'` every committed change of a bound
 * table pushes, whoever made it (raw SQL, cascades, another process), exactly once, after
 * commit, in commit order per row, with the per-subscriber rules of sections 4 and 6.
 * SQLite runs on a file (another process writes it too); PostgreSQL with BINDINGS_TEST_DB=postgres.
 */

@Binding<DcBoard>({ app: 'dc', name: 'Board' })
@Entity({ name: 'dc_board' })
class DcBoard {
  @PrimaryGeneratedColumn() id: number;
  @Column() name: string;
}

@Binding<DcCard>({
  app: 'dc',
  name: 'Card',
  exclude: ['secret'],
  scope: (user: { tenant?: string } | null) => ({ tenant: user?.tenant ?? '\u0000none' }),
  can: { retrieve: (_user: unknown, card: DcCard) => !card.title.startsWith('hidden') },
  serialize: (row) => ({ ...row, shout: String(row.title).toUpperCase() }),
})
@Entity({ name: 'dc_card' })
class DcCard {
  @PrimaryGeneratedColumn() id: number;
  @Column() title: string;
  @Column() tenant: string;
  @Column('int', { default: 0 }) rank: number;
  @Column({ type: 'varchar', nullable: true }) secret?: string | null;
  @Column({ type: 'int', nullable: true }) boardId?: number | null;
  @ManyToOne(() => DcBoard, { onDelete: 'CASCADE', nullable: true }) @JoinColumn({ name: 'boardId' }) board?: DcBoard;
  @CreateDateColumn() createdAt: Date;
  @DeleteDateColumn({ nullable: true }) deletedAt?: Date | null;
}

const execFileAsync = promisify(execFile);
const pgMode = testDb === 'postgres';
/** On PostgreSQL the poll is kept out of the way: only NOTIFY (and the reconnection) can deliver in time. */
const pollInterval = pgMode ? 60_000 : 400;
const options: BindingsModuleOptions = { capture: { mode: 'database', pollInterval }, authenticate: authenticateFromHeader };

interface App {
  app: ReturnType<typeof createApp>;
  dataSource: DataSource;
  ws: string;
}

async function start(database: DataSourceOptions, moduleOptions = options): Promise<App> {
  const moduleRef = await Test.createTestingModule({
    imports: [TypeOrmModule.forRoot({ ...database, retryAttempts: 0 }), BindingsModule.forRoot(moduleOptions)],
  }).compile();
  const app = createApp(moduleRef, { logger: ['error'] });
  app.useWebSocketAdapter(new WsAdapter(app));
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, dataSource: app.get(DataSource), ws: `ws://127.0.0.1:${port}/ws` };
}

let dir: string;
let target: string; // the SQLite file or the PostgreSQL URL
let dropDatabase: () => Promise<void> = async () => undefined;
let t: App;
let a: TestSocket; // alice, tenant acme
let b: TestSocket; // bob, tenant globex

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nb-dbcapture-'));
  let database: DataSourceOptions;
  if (pgMode) {
    const created = await createTestDatabase([DcBoard, DcCard]);
    database = created.options;
    dropDatabase = created.drop;
    target = (created.options as { url: string }).url;
  } else {
    target = join(dir, 'app.sqlite');
    database = { type: 'better-sqlite3', database: target, entities: [DcBoard, DcCard], synchronize: true };
  }
  t = await start(database);
  a = await TestSocket.open(t.ws, as(alice));
  b = await TestSocket.open(t.ws, as(bob));
  for (const s of [a, b]) {
    const reply = await s.request('dc.Card.subscribe', {});
    expect(reply).toMatchObject({ data: { room: 'dc.Card' } });
  }
});
afterAll(async () => {
  a?.close();
  b?.close();
  await t?.app.close();
  await dropDatabase();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  a.frames.length = 0;
  b.frames.length = 0;
});

const cards = () => t.dataSource.getRepository(DcCard);
const param = (n: number) => (pgMode ? `$${n}` : '?');
let n = 0;
const unique = (prefix = 'card') => `${prefix}-${++n}`;

/** The pushes `s` got, once `count` have come and a little longer (so that an extra one would show). */
async function pushes(s: TestSocket, count: number, wait = pgMode ? 150 : pollInterval + 150): Promise<any[]> {
  if (count > 0) await s.waitFor(() => s.pushes().length >= count, 5000);
  await settle(wait);
  return s.pushes();
}

/** A card of acme written through TypeORM, its push consumed. */
async function seed(fields: Partial<DcCard> = {}): Promise<DcCard> {
  const card = await cards().save(cards().create({ title: unique(), tenant: 'acme', rank: 0, secret: 's3cret', ...fields }));
  await a.waitFor((f) => f.event === 'dc.Card.created' && f.data.id === card.id, 5000);
  a.frames.length = 0;
  return card;
}

/** Runs statements in another Node process with its own connection; resolves with its commit time. */
async function outside(...statements: string[]): Promise<number> {
  const { stdout } = await execFileAsync(process.execPath, ['test/fixtures/outside-writer.mjs', testDb, target, ...statements]);
  return Number(/committed (\d+)/.exec(stdout)![1]);
}

/** A client of its own (PostgreSQL), for transactions the test interleaves. */
async function pgClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: target });
  await client.connect();
  return client;
}

describe('writers other than TypeORM', () => {
  it('raw SQL through the DataSource pushes, with exclude, serialize and the changed columns', async () => {
    const card = await seed();
    await t.dataSource.query(`UPDATE dc_card SET rank = 5 WHERE id = ${param(1)}`, [card.id]);
    const [push] = await pushes(a, 1);
    expect(push).toMatchObject({
      event: 'dc.Card.updated',
      room: 'dc.Card',
      changes: ['rank'],
      data: { id: card.id, rank: 5, shout: card.title.toUpperCase() },
    });
    expect(JSON.stringify(push)).not.toContain('s3cret');
    expect(a.pushes()).toHaveLength(1);
  });

  it('another Node process writing the same database pushes', async () => {
    const title = unique('outside');
    const committed = await outside(`INSERT INTO dc_card (title, tenant, rank) VALUES ('${title}', 'acme', 7)`);
    const push = await a.waitFor((f) => f.event === 'dc.Card.created' && f.data.title === title, 5000);
    const latency = Date.now() - committed;
    expect(push.data).toMatchObject({ tenant: 'acme', rank: 7 });
    // PostgreSQL: NOTIFY, not the poll (60 s here), brings it within a second; SQLite: the poll.
    expect(latency).toBeLessThan(pgMode ? 1000 : 1000 + pollInterval);
  });

  it('a rolled-back raw transaction pushes nothing', async () => {
    const card = await seed();
    if (pgMode) {
      const client = await pgClient();
      await client.query('BEGIN');
      await client.query(`UPDATE dc_card SET rank = 99 WHERE id = $1`, [card.id]);
      await client.query('ROLLBACK');
      await client.end();
    } else {
      await expect(
        t.dataSource.transaction(async (manager) => {
          await manager.query(`UPDATE dc_card SET rank = 99 WHERE id = ?`, [card.id]);
          throw new Error('undo');
        }),
      ).rejects.toThrow('undo');
    }
    // A later change shows that the reader has gone past the rolled-back one.
    await t.dataSource.query(`UPDATE dc_card SET rank = 1 WHERE id = ${param(1)}`, [card.id]);
    const got = await pushes(a, 1);
    expect(got.map((p) => p.data.rank)).toEqual([1]);
  });

  it('changes of one row arrive in commit order, each once', async () => {
    const card = await seed();
    await outside(...[1, 2, 3].map((rank) => `UPDATE dc_card SET rank = ${rank} WHERE id = ${card.id}`));
    for (const rank of [4, 5]) await t.dataSource.query(`UPDATE dc_card SET rank = ${rank} WHERE id = ${param(1)}`, [card.id]);
    await outside(`UPDATE dc_card SET rank = 6 WHERE id = ${card.id}`);
    // One outside transaction of three updates is three changes of the row, in order.
    const got = await pushes(a, 6);
    expect(got.map((p) => p.data.rank)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a cascade of the database pushes each affected row, deleted with its last state', async () => {
    const board = await t.dataSource.getRepository(DcBoard).save({ name: unique('board') });
    const one = await seed({ boardId: board.id });
    const two = await seed({ boardId: board.id });
    await outside(`DELETE FROM dc_board WHERE id = ${board.id}`);
    const got = await pushes(a, 2);
    expect(got.map((p) => [p.event, p.data.id, p.data.title]).sort()).toEqual(
      [
        ['dc.Card.deleted', one.id, one.title],
        ['dc.Card.deleted', two.id, two.title],
      ].sort(),
    );
    expect(JSON.stringify(got)).not.toContain('s3cret');
  });
});

describe('the states pushed', () => {
  it('are typed as a retrieve reads them (dates, nulls), from the row type of the table', async () => {
    const card = await seed();
    await outside(`UPDATE dc_card SET rank = 3 WHERE id = ${card.id}`);
    const [push] = await pushes(a, 1);
    const retrieved = (await a.request('dc.Card.retrieve', { id: card.id })).data;
    expect(push.data).toEqual(retrieved);
    expect(typeof push.data.createdAt).toBe('string');
    expect(push.data.deletedAt).toBeNull();
  });

  it('a soft delete by raw SQL pushes deleted, a restore created, a write of a soft-deleted row nothing', async () => {
    const card = await seed();
    await outside(`UPDATE dc_card SET "deletedAt" = CURRENT_TIMESTAMP WHERE id = ${card.id}`);
    await outside(`UPDATE dc_card SET rank = 12 WHERE id = ${card.id}`);
    await outside(`UPDATE dc_card SET "deletedAt" = NULL WHERE id = ${card.id}`);
    const got = await pushes(a, 2);
    expect(got.map((p) => [p.event, p.data.rank])).toEqual([
      ['dc.Card.deleted', 0],
      ['dc.Card.created', 12],
    ]);
  });

  it('an update that changes only an excluded column pushes nothing', async () => {
    const card = await seed();
    await outside(`UPDATE dc_card SET secret = 'other' WHERE id = ${card.id}`, `UPDATE dc_card SET rank = 2 WHERE id = ${card.id}`);
    expect((await pushes(a, 1)).map((p) => p.changes)).toEqual([['rank']]);
  });
});

describe('exactly once', () => {
  it('a TypeORM write of this process pushes once: save, update, delete, and a transaction', async () => {
    const card = await cards().save(cards().create({ title: unique(), tenant: 'acme' }));
    await cards().update(card.id, { rank: 2 });
    await t.dataSource.transaction(async (manager) => {
      await manager.update(DcCard, card.id, { rank: 3 });
      await manager.update(DcCard, card.id, { title: 'renamed' });
    });
    await cards().delete(card.id);
    const got = await pushes(a, 5);
    expect(got.map((p) => [p.event, p.data.rank])).toEqual([
      ['dc.Card.created', 0],
      ['dc.Card.updated', 2],
      ['dc.Card.updated', 3],
      ['dc.Card.updated', 3],
      ['dc.Card.deleted', 3],
    ]);
    expect(new Set(got.map((p) => p.change)).size).toBe(5);
  });

  // PostgreSQL: the NOTIFY of this process's commit wakes the reader like any other's (tested above).
  if (!pgMode)
    it('on SQLite, a write of this process is pushed right after its commit, not at the next poll', async () => {
      // An instance whose poll is a minute away: only the wake-up of its own writes can push in time.
      const other = await start(t.dataSource.options, { ...options, capture: { mode: 'database', pollInterval: 60_000 } });
      const c = await TestSocket.open(other.ws, as(alice));
      try {
        await c.request('dc.Card.subscribe', {});
        const repo = other.dataSource.getRepository(DcCard);
        const card = await repo.save(repo.create({ title: unique(), tenant: 'acme' })); // a transaction: at its COMMIT
        await c.waitFor((f) => f.event === 'dc.Card.created' && f.data.id === card.id, 5000);
        await other.dataSource.query(`UPDATE dc_card SET rank = 61 WHERE id = ?`, [card.id]); // autocommit
        await c.waitFor((f) => f.event === 'dc.Card.updated' && f.data.rank === 61, 5000);
        await other.dataSource.transaction(async (manager) => {
          await manager.query(`UPDATE dc_card SET rank = 62 WHERE id = ?`, [card.id]);
          await manager.query(`UPDATE dc_card SET rank = 63 WHERE id = ?`, [card.id]);
        });
        await c.waitFor((f) => f.event === 'dc.Card.updated' && f.data.rank === 63, 5000);
        expect(c.pushes().map((p) => p.data.rank)).toEqual([0, 61, 62, 63]);
        // The suite's own instance gets them at its poll: let it, so no later test sees them.
        await a.waitFor((f) => f.event === 'dc.Card.updated' && f.data.rank === 63, 5000);
      } finally {
        c.close();
        await other.app.close();
      }
    });

  it('a write through the binding itself (the socket that wrote included) pushes once', async () => {
    const card = await seed();
    const reply = await a.request('dc.Card.update', { id: card.id, rank: 4 });
    expect(reply.data).toMatchObject({ id: card.id, rank: 4 });
    const got = await pushes(a, 1);
    expect(got.map((p) => [p.event, p.data.rank])).toEqual([['dc.Card.updated', 4]]);
  });

  it('a second instance on the same database (no Redis) pushes each change once to its own subscribers', async () => {
    const other = await start(t.dataSource.options);
    const c = await TestSocket.open(other.ws, as(alice));
    try {
      await c.request('dc.Card.subscribe', {});
      const card = await cards().save(cards().create({ title: unique(), tenant: 'acme' }));
      await outside(`UPDATE dc_card SET rank = 8 WHERE id = ${card.id}`);
      for (const s of [a, c]) {
        const got = await pushes(s, 2);
        expect(got.map((p) => [p.event, p.data.rank])).toEqual([
          ['dc.Card.created', 0],
          ['dc.Card.updated', 8],
        ]);
      }
    } finally {
      c.close();
      await other.app.close();
    }
  });
});

describe('per subscriber, as every push', () => {
  it('scope and can.retrieve are applied to each subscriber; a delete pushes the last state', async () => {
    const title = unique();
    const hidden = unique('hidden');
    await outside(
      `INSERT INTO dc_card (title, tenant, rank) VALUES ('${title}', 'globex', 1)`,
      `INSERT INTO dc_card (title, tenant, rank) VALUES ('${hidden}', 'globex', 1)`,
    );
    const [push] = await pushes(b, 1);
    expect(push.data.title).toBe(title);
    expect(b.pushes()).toHaveLength(1); // can.retrieve refused the hidden one
    expect(a.pushes()).toHaveLength(0); // alice is acme
    await outside(`DELETE FROM dc_card WHERE title = '${title}'`);
    const deleted = await b.waitFor((f) => f.event === 'dc.Card.deleted', 5000);
    expect(deleted.data).toMatchObject({ title, tenant: 'globex', rank: 1 });
    await settle(pgMode ? 100 : pollInterval + 150);
    expect(a.pushes()).toHaveLength(0);
  });

  it('a filter room hears of a row that left it (matched before the change)', async () => {
    const card = await seed({ rank: 41 });
    const f = await TestSocket.open(t.ws, as(alice));
    try {
      const reply = await f.request('dc.Card.subscribe', { filter: { rank: 41 } });
      expect(reply.data.room).toMatch(/^dc\.Card\?/);
      await outside(`UPDATE dc_card SET rank = 42 WHERE id = ${card.id}`);
      const [push] = await pushes(f, 1);
      expect(push).toMatchObject({ event: 'dc.Card.updated', room: reply.data.room, data: { id: card.id, rank: 42 } });
    } finally {
      f.close();
    }
  });
});

describe('live lists', () => {
  it('follow the changes of another process: a transaction read at once is one frame, scoped per user', async () => {
    const mine = await TestSocket.open(t.ws, as(alice));
    const theirs = await TestSocket.open(t.ws, as(bob));
    try {
      const query = { filter: { rank: 555 }, order: { id: 'ASC' }, live: true };
      const page = await mine.request('dc.Card.list', query);
      expect(page.data).toMatchObject({ count: 0, rows: [] });
      expect((await theirs.request('dc.Card.list', query)).data).toMatchObject({ count: 0 });
      await outside(
        `INSERT INTO dc_card (title, tenant, rank) VALUES ('live-1', 'acme', 555)`,
        `INSERT INTO dc_card (title, tenant, rank) VALUES ('live-2', 'acme', 555)`,
      );
      const frame = await mine.waitFor((f) => f.event === 'dc.Card.list.changed', 5000);
      expect(frame.count).toBe(2);
      expect(frame.ops.map((op: any[]) => [op[0], op[2]?.title])).toEqual([
        ['insert', 'live-1'],
        ['insert', 'live-2'],
      ]);
      await outside(`DELETE FROM dc_card WHERE title = 'live-1'`);
      const next = await mine.waitFor((f) => f.event === 'dc.Card.list.changed' && f.count === 1, 5000);
      expect(next.ops[0][0]).toBe('remove');
      await settle(pgMode ? 150 : pollInterval + 150);
      expect(mine.frames.filter((f) => f.event === 'dc.Card.list.changed')).toHaveLength(2);
      expect(theirs.frames.filter((f) => f.event === 'dc.Card.list.changed')).toHaveLength(0); // bob is globex
    } finally {
      mine.close();
      theirs.close();
    }
  });
});

describe('what is installed', () => {
  it('installing again changes nothing in the schema, and each write records one outbox row', async () => {
    const schema = () =>
      pgMode
        ? t.dataSource.query(
            `SELECT 'f' AS k, xmin::text AS v FROM pg_proc WHERE proname = 'nest_bindings_capture'
             UNION ALL SELECT 't', oid::text || ':' || xmin::text FROM pg_trigger WHERE tgname = 'nest_bindings_capture'
             UNION ALL SELECT 'r', oid::text FROM pg_class WHERE relname LIKE 'nest_bindings_%' ORDER BY 1, 2`,
          )
        : t.dataSource.query(`SELECT 'v' AS k, schema_version AS v FROM pragma_schema_version UNION ALL SELECT type, name FROM sqlite_master ORDER BY 1, 2`);
    const before = await schema();
    const metadatas = [DcBoard, DcCard].map((e) => t.dataSource.getMetadata(e));
    await installDatabaseCapture(t.dataSource, metadatas);
    await installDatabaseCapture(t.dataSource, metadatas);
    expect(await schema()).toEqual(before);
    const card = await seed();
    const [{ count }] = await t.dataSource.query(
      `SELECT COUNT(*) AS count FROM nest_bindings_outbox WHERE tbl = 'dc_card' AND new_row IS NOT NULL AND ${pgMode ? `(new_row->>'id')::int` : `json_extract(new_row, '$.id')`} = ${card.id}`,
    );
    expect(Number(count)).toBe(1);
  });

  it('what was changed by hand is put back as wanted at the next installation', async () => {
    if (pgMode) {
      await t.dataSource.query(`CREATE OR REPLACE FUNCTION nest_bindings_capture() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`);
      await t.dataSource.query(`DROP TRIGGER nest_bindings_capture ON dc_board`);
    } else {
      await t.dataSource.query(`DROP TRIGGER nest_bindings_dc_card_update`);
      await t.dataSource.query(`CREATE TRIGGER nest_bindings_dc_card_update AFTER UPDATE ON dc_card BEGIN SELECT 1; END`);
      await t.dataSource.query(`DROP TRIGGER nest_bindings_dc_board_insert`);
    }
    await installDatabaseCapture(
      t.dataSource,
      [DcBoard, DcCard].map((e) => t.dataSource.getMetadata(e)),
    );
    const card = await seed();
    await outside(`UPDATE dc_card SET rank = 91 WHERE id = ${card.id}`, `INSERT INTO dc_board (name) VALUES ('put back')`);
    expect((await pushes(a, 1)).map((p) => p.data.rank)).toEqual([91]);
    const name = pgMode ? `new_row->>'name'` : `json_extract(new_row, '$.name')`;
    const [{ count }] = await t.dataSource.query(`SELECT COUNT(*) AS count FROM nest_bindings_outbox WHERE tbl = 'dc_board' AND ${name} = 'put back'`);
    expect(Number(count)).toBe(1);
  });

  it('the outbox is trimmed by the writes themselves, with no reader involved', async () => {
    // Move the outbox ids close to a trim point far ahead: the next write lands on it.
    const point = Math.ceil((OUTBOX_ROWS + 10_000) / TRIM_EVERY) * TRIM_EVERY;
    if (pgMode) await t.dataSource.query(`SELECT setval('nest_bindings_outbox_id_seq', ${point - 1})`);
    else await t.dataSource.query(`INSERT INTO nest_bindings_outbox (id, tbl, op) VALUES (${point - 1}, 'nobody', 'I')`);
    const [{ old: before }] = await t.dataSource.query(`SELECT COUNT(*) AS old FROM nest_bindings_outbox WHERE id < 10000`);
    expect(Number(before)).toBeGreaterThan(0);
    await outside(`UPDATE dc_card SET rank = rank + 1 WHERE id = (SELECT MIN(id) FROM dc_card)`);
    const [{ old: after }] = await t.dataSource.query(`SELECT COUNT(*) AS old FROM nest_bindings_outbox WHERE id < 10000`);
    expect(Number(after)).toBe(0);
    // And the reader goes on past the jump.
    const card = await seed();
    await outside(`UPDATE dc_card SET rank = 77 WHERE id = ${card.id}`);
    expect((await pushes(a, 1)).map((p) => p.data.rank)).toEqual([77]);
  });
});

if (pgMode)
  describe('PostgreSQL: a writer of another role', () => {
    it('may write a bound table with no privilege on the outbox, and may neither read nor forge it', async () => {
      const role = `nb_writer_${Date.now().toString(36)}`;
      await t.dataSource.query(`CREATE ROLE ${role} NOLOGIN`);
      const client = await pgClient();
      try {
        await t.dataSource.query(`GRANT SELECT, INSERT, UPDATE ON dc_card TO ${role}`);
        await t.dataSource.query(`GRANT USAGE ON SEQUENCE dc_card_id_seq TO ${role}`);
        const title = unique('role');
        await client.query('BEGIN');
        await client.query(`SET LOCAL ROLE ${role}`);
        await client.query(`INSERT INTO dc_card (title, tenant, rank) VALUES ($1, 'acme', 3)`, [title]);
        await client.query('COMMIT');
        const push = await a.waitFor((f) => f.event === 'dc.Card.created' && f.data.title === title, 5000);
        expect(push.data).toMatchObject({ tenant: 'acme', rank: 3 });
        // The outbox holds every table's whole rows (excluded columns too): not for this role.
        for (const sql of [`SELECT count(*) FROM nest_bindings_outbox`, `INSERT INTO nest_bindings_outbox (tbl, op, new_row) VALUES ('dc_card', 'I', '{}')`]) {
          await client.query('BEGIN');
          await client.query(`SET LOCAL ROLE ${role}`);
          await expect(client.query(sql)).rejects.toThrow(/permission denied/);
          await client.query('ROLLBACK');
        }
        // Nor can it attach the trigger function to a table of its own, to record rows under a bound table's name.
        await t.dataSource.query(`GRANT CREATE ON SCHEMA public TO ${role}`);
        await client.query('BEGIN');
        await client.query(`SET LOCAL ROLE ${role}`);
        await client.query(`CREATE TABLE ${role}_own (id int)`);
        await expect(
          client.query(`CREATE TRIGGER forge AFTER INSERT ON ${role}_own FOR EACH ROW EXECUTE FUNCTION nest_bindings_capture('dc_card')`),
        ).rejects.toThrow(/permission denied for function/);
        await client.query('ROLLBACK');
      } finally {
        await client.end();
        await t.dataSource.query(`DROP OWNED BY ${role}`);
        await t.dataSource.query(`DROP ROLE ${role}`);
      }
    });
  });

if (pgMode)
  describe('PostgreSQL: commit order and the listening connection', () => {
    it('two transactions committed in the reverse order of their outbox ids both push', async () => {
      const one = await seed();
      const two = await seed();
      const first = await pgClient();
      const second = await pgClient();
      try {
        await first.query('BEGIN');
        await first.query(`UPDATE dc_card SET rank = 11 WHERE id = $1`, [one.id]); // the lower outbox id
        await second.query('BEGIN');
        await second.query(`UPDATE dc_card SET rank = 22 WHERE id = $1`, [two.id]); // the higher one
        await second.query('COMMIT');
        await a.waitFor((f) => f.data?.id === two.id && f.data.rank === 22, 5000);
        expect((t.app.get(DatabaseCapture).source as PostgresOutbox).openGaps).toBeGreaterThan(0);
        await first.query('COMMIT');
        const got = await pushes(a, 2);
        expect(got.map((p) => [p.data.id, p.data.rank])).toEqual([
          [two.id, 22],
          [one.id, 11],
        ]);
      } finally {
        await first.end();
        await second.end();
      }
    });

    it('three transactions committing last, first, middle: every one pushes, each once', async () => {
      const cardsOf = [await seed(), await seed(), await seed()];
      const clients = [await pgClient(), await pgClient(), await pgClient()];
      try {
        for (const [i, client] of clients.entries()) {
          await client.query('BEGIN');
          await client.query(`UPDATE dc_card SET rank = ${70 + i} WHERE id = $1`, [cardsOf[i].id]); // outbox ids in this order
        }
        for (const i of [2, 0, 1]) {
          await clients[i].query('COMMIT');
          await a.waitFor((f) => f.data?.id === cardsOf[i].id && f.data.rank === 70 + i, 5000);
        }
        const got = await pushes(a, 3);
        expect(got.map((p) => p.data.rank)).toEqual([72, 70, 71]);
        expect((t.app.get(DatabaseCapture).source as PostgresOutbox).openGaps).toBe(0);
      } finally {
        for (const client of clients) await client.end();
      }
    });

    it('an instance starting while a transaction with a lower outbox id is open pushes it once committed', async () => {
      const one = await seed();
      const two = await seed();
      const open = await pgClient();
      let other: App | undefined;
      let c: TestSocket | undefined;
      try {
        await open.query('BEGIN');
        await open.query(`UPDATE dc_card SET rank = 51 WHERE id = $1`, [one.id]); // the lower id, not committed
        await t.dataSource.query(`UPDATE dc_card SET rank = 52 WHERE id = $1`, [two.id]); // committed: the highest id at start-up
        other = await start(t.dataSource.options);
        c = await TestSocket.open(other.ws, as(alice));
        await c.request('dc.Card.subscribe', {});
        await open.query('COMMIT');
        const got = await pushes(c, 1);
        expect(got.map((p) => [p.data.id, p.data.rank])).toEqual([[one.id, 51]]);
      } finally {
        c?.close();
        await other?.app.close();
        await open.end();
      }
    });

    it('a listener whose connection was killed reconnects and delivers what it missed', async () => {
      const source = t.app.get(DatabaseCapture).source as PostgresOutbox;
      const card = await seed();
      const pid = source.listenerPid;
      expect(pid).toBeDefined();
      const admin = await pgClient();
      try {
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        // Written while nobody listens (the poll is a minute away).
        await admin.query(`UPDATE dc_card SET rank = 31 WHERE id = $1`, [card.id]);
        await admin.query(`UPDATE dc_card SET rank = 32 WHERE id = $1`, [card.id]);
        const got = await pushes(a, 2);
        expect(got.map((p) => p.data.rank)).toEqual([31, 32]);
        expect(source.listenerPid).toBeDefined();
        expect(source.listenerPid).not.toBe(pid);
        // Listening again: a new change arrives by NOTIFY.
        a.frames.length = 0;
        await admin.query(`UPDATE dc_card SET rank = 33 WHERE id = $1`, [card.id]);
        expect((await pushes(a, 1)).map((p) => p.data.rank)).toEqual([33]);
      } finally {
        await admin.end();
      }
    });
  });

describe('bounds', () => {
  it('a read holds a bounded number of bytes: large rows come a few at a time, all of them, in order', async () => {
    const [{ last }] = await t.dataSource.query(`SELECT COALESCE(MAX(id), 0) AS last FROM nest_bindings_outbox`);
    const big = pgMode ? `repeat('x', 300000)` : `printf('%.*c', 300000, 'x')`;
    await outside(...[1, 2, 3, 4, 5].map((i) => `INSERT INTO dc_card (title, tenant, rank, secret) VALUES ('big-${i}', 'acme', ${i}, ${big})`));
    // The app's reader gets every one of them, in order, without the 300 kB secret.
    const got = await pushes(a, 5);
    expect(got.map((p) => p.data.title)).toEqual(['big-1', 'big-2', 'big-3', 'big-4', 'big-5']);
    expect(JSON.stringify(got).length).toBeLessThan(10_000);
    // A reader of its own, from the same point, with a budget of 500 kB: two rows a read.
    const probe = pgMode ? new PostgresOutbox(t.dataSource, new Logger('test')) : new SqliteOutbox(t.dataSource);
    await probe.resetCursor(Number(last));
    const sizes: number[] = [];
    const ids: number[] = [];
    const mores: boolean[] = [];
    for (let more = true; more;) {
      const batch = await probe.fetch(500, 500_000);
      sizes.push(batch.rows.length);
      ids.push(...batch.rows.map((r) => r.id));
      mores.push(batch.more);
      more = batch.more;
    }
    expect(sizes).toEqual([2, 2, 1]);
    expect(mores).toEqual([true, true, false]);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
  });
});

describe('start-up', () => {
  it('a database user that may not install the triggers fails the start-up with a clear message', async () => {
    // Tables made by a user who may, then an app whose user may only read and write rows.
    let database: DataSourceOptions;
    let cleanup = async () => undefined as unknown;
    if (pgMode) {
      const created = await createTestDatabase([DcBoard, DcCard]);
      const setup = new DataSource(created.options);
      await setup.initialize();
      const role = `nb_rw_${Date.now().toString(36)}`;
      await setup.query(`CREATE ROLE ${role} LOGIN`);
      await setup.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON dc_board, dc_card TO ${role}`);
      await setup.destroy();
      const url = new URL((created.options as { url: string }).url);
      url.username = role;
      database = { ...created.options, url: url.toString(), synchronize: false } as DataSourceOptions;
      cleanup = async () => {
        await created.drop();
        const client = new pg.Client({ connectionString: process.env.BINDINGS_PG_URL });
        await client.connect();
        await client.query(`DROP ROLE IF EXISTS ${role}`);
        await client.end();
      };
    } else {
      const file = join(dir, 'read-only.sqlite');
      const setup = new DataSource({ type: 'better-sqlite3', database: file, entities: [DcBoard, DcCard], synchronize: true });
      await setup.initialize();
      await setup.destroy();
      database = { type: 'better-sqlite3', database: file, entities: [DcBoard, DcCard], readonly: true };
    }
    const moduleRef = await Test.createTestingModule({
      imports: [TypeOrmModule.forRoot({ ...database, retryAttempts: 0 }), BindingsModule.forRoot(options)],
    }).compile();
    const app = createApp(moduleRef, { logger: false });
    try {
      await expect(app.init()).rejects.toThrow(
        /^capture is 'database', but its triggers and outbox could not be installed \(.+\)\. The database user must own the bound tables/,
      );
    } finally {
      await app.close();
      await cleanup();
    }
  });
});

describe('the option', () => {
  it('accepts orm, database and { mode: database, pollInterval }, and refuses anything else at start-up', () => {
    expect(resolveOptions({}).capture).toEqual({ mode: 'orm' });
    expect(resolveOptions({ capture: 'database' }).capture).toEqual({ mode: 'database', pollInterval: 1000 });
    expect(resolveOptions({ capture: { mode: 'database', pollInterval: 50 } }).capture).toEqual({ mode: 'database', pollInterval: 50 });
    for (const capture of ['everything', { mode: 'database', pollInterval: 0 }, { mode: 'orm' }, null]) {
      expect(() => resolveOptions({ capture: capture as never })).toThrow(InvalidOptionsException);
    }
  });
});

describe('emptying a table', () => {
  it("TypeORM's clear() (TRUNCATE on PostgreSQL, where row triggers do not fire) pushes each row deleted", async () => {
    const one = await seed();
    const two = await seed();
    const visible: Array<{ id: number }> = await t.dataSource.query(
      `SELECT id FROM dc_card WHERE tenant = 'acme' AND title NOT LIKE 'hidden%' AND ${pgMode ? '"deletedAt"' : 'deletedAt'} IS NULL`,
    );
    await cards().clear();
    const got = await pushes(a, visible.length);
    expect(got.every((p) => p.event === 'dc.Card.deleted')).toBe(true);
    expect(got.map((p) => p.data.id).sort((x, y) => x - y)).toEqual(visible.map((r) => Number(r.id)).sort((x, y) => x - y));
    expect(got.map((p) => p.data.id)).toEqual(expect.arrayContaining([one.id, two.id]));
    expect(b.pushes()).toHaveLength(0); // the one globex row left is hidden from bob by can.retrieve
  });
});

describe('removal', () => {
  it('removeDatabaseCapture drops every trigger and table it installed; writes go on', async () => {
    await t.app.get(DatabaseCapture).onModuleDestroy(); // stop reading first, as an application would
    await removeDatabaseCapture(t.dataSource);
    await removeDatabaseCapture(t.dataSource); // nothing left: nothing to do
    const left = pgMode
      ? await t.dataSource.query(
          `SELECT tgname AS name FROM pg_trigger WHERE tgname LIKE 'nest_bindings%' UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE 'nest_bindings%'
           UNION ALL SELECT relname FROM pg_class WHERE relname LIKE 'nest_bindings%'`,
        )
      : await t.dataSource.query(`SELECT name FROM sqlite_master WHERE name LIKE 'nest_bindings%'`);
    expect(left).toEqual([]);
    await outside(`INSERT INTO dc_card (title, tenant) VALUES ('after removal', 'acme')`);
    expect((await cards().findOneByOrFail({ title: 'after removal' })).tenant).toBe('acme');
  });
});
