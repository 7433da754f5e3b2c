// What each capture mode costs (README "Capture in the database"), on SQLite and, when
// BINDINGS_PG_URL is set, PostgreSQL: writes/s through REST with capture 'database' vs
// 'orm', raw UPDATE/s from another connection with the triggers vs without, and the latency
// from another process's commit to a socket. Each server run gets a fresh database.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createPgDatabase, dropPgDatabase } from '../scripts/pg-databases.mjs';

const RAW_WRITES = 5000;

function databases(dir) {
  let n = 0;
  const list = [{ name: 'SQLite', fresh: async () => join(dir, `capture-${++n}.sqlite`), drop: async () => undefined }];
  const url = process.env.BINDINGS_PG_URL;
  if (url) {
    list.push({
      name: 'PostgreSQL',
      fresh: () => createPgDatabase(url, 'nb_bench'),
      drop: (target) => dropPgDatabase(url, target),
    });
  } else console.log('capture on PostgreSQL: skipped (set BINDINGS_PG_URL, e.g. via scripts/services.sh env)');
  return list;
}

/** Writes/s of PATCH requests on random notes, 10 connections. */
async function restWrites(port, ms) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 10,
    duration: ms / 1000,
    requests: [
      {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({
          ...req,
          path: `/api/bench/Note/${1 + Math.floor(Math.random() * 100)}`,
          body: JSON.stringify({ rank: Math.floor(Math.random() * 1e6) }),
        }),
      },
    ],
  });
  // Two requests may write the same note at once: the later may answer 409 (conflict), not a write.
  const failed = result.non2xx - (result.statusCodeStats?.['409']?.count ?? 0);
  if (failed) throw new Error(`capture bench: ${failed} answers neither 2xx nor 409`);
  return result['2xx'] / (ms / 1000);
}

/** Single-statement UPDATE/s on a connection of this process (not the server's). */
async function rawWrites(target) {
  const started = performance.now();
  if (target.startsWith('postgres')) {
    const client = new pg.Client({ connectionString: target, options: '-c synchronous_commit=off' });
    await client.connect();
    for (let i = 0; i < RAW_WRITES; i++) await client.query('UPDATE bench_note SET rank = $1 WHERE id = $2', [i, 1 + (i % 100)]);
    await client.end();
  } else {
    const db = new Database(target);
    db.pragma('synchronous = NORMAL'); // WAL, as the server left it
    const stmt = db.prepare('UPDATE bench_note SET rank = ? WHERE id = ?');
    for (let i = 0; i < RAW_WRITES; i++) stmt.run(i, 1 + (i % 100));
    db.close();
  }
  return RAW_WRITES / ((performance.now() - started) / 1000);
}

export async function benchCapture({ startServer, load, report, median, quick, dir }) {
  const ms = quick ? 2000 : 5000;
  for (const db of databases(dir)) {
    const rest = { orm: [], database: [] };
    const raw = { orm: [], database: [] };
    const kept = {}; // one database per mode, as a server left it: with the triggers, or without
    try {
      for (const order of quick
        ? [['orm', 'database']]
        : [
            ['orm', 'database'],
            ['database', 'orm'],
            ['orm', 'database'],
          ]) {
        for (const mode of order) {
          const target = await db.fresh();
          const server = await startServer('capture', { CAPTURE: mode, CAPTURE_DB: target }).catch(async (error) => {
            await db.drop(target);
            throw error;
          });
          try {
            rest[mode].push(await restWrites(server.port, ms));
          } finally {
            await server.stop();
          }
          if (kept[mode]) await db.drop(target);
          else kept[mode] = target;
        }
      }
      // Raw writes alternate between the two databases, no server running.
      for (let round = 0; round < 5; round++) {
        for (const mode of round % 2 ? ['database', 'orm'] : ['orm', 'database']) raw[mode].push(await rawWrites(kept[mode]));
      }
    } finally {
      for (const target of Object.values(kept)) await db.drop(target);
    }
    report(`${db.name}: REST writes/s, capture 'database' vs 'orm'`, median(rest.database), median(rest.orm), 'writes/s', 'information');
    report(`${db.name}: raw UPDATE/s from another connection, with the triggers vs without`, median(raw.database), median(raw.orm), 'writes/s', 'information');

    const target = await db.fresh();
    try {
      const server = await startServer('capture', { CAPTURE: 'database', CAPTURE_DB: target });
      try {
        const { p50, p99 } = await load('capture-latency.mjs', [`ws://127.0.0.1:${server.port}/ws`, target, quick ? 10 : 30]);
        // PostgreSQL: within a second (NOTIFY); SQLite: the poll (pollInterval, default 1,000 ms).
        for (const [name, value] of [
          ['p50', p50],
          ['p99', p99],
        ]) {
          report(
            `${db.name}: another process's commit -> socket, ${name} ms`,
            value,
            1000,
            'ms',
            db.name === 'PostgreSQL' ? '<= 1.0x (within 1 s)' : 'information (poll 1 s)',
          );
        }
      } finally {
        await server.stop();
      }
    } finally {
      await db.drop(target);
    }
  }
}
