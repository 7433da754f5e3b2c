// Measures what the heaviest patterns within limits.patternLength cost the databases:
// 40 rows of 10,000 characters, each pattern matched against every row once. SQLite's LIKE,
// GLOB and PostgreSQL's LIKE/ILIKE all cost about text × pattern per row on a near miss (each
// `%` is tried at every position, no backtracking beyond that): bounded by patternLength and
// patternTotal, not by the pattern's shape. A search `q` on SQLite runs as instr (memcmp).
//   node scripts/bench-patterns.mjs            (SQLite)
//   BINDINGS_PG_URL=postgres://... node scripts/bench-patterns.mjs
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const ROWS = 40;
const TEXTS = { a: 'a'.repeat(10_000), ab: 'ab'.repeat(5_000), mixed: Array.from({ length: 10_000 }, (_, i) => 'abcdefghij'[(i * 7919) % 10]).join('') };
const P = 100; // limits.patternLength
const PATTERNS = {
  'contains near miss (q)': '%' + 'a'.repeat(P - 3) + 'b%',
  'many % (a%a%...b)': '%a'.repeat(((P - 1) / 2) | 0) + 'b',
  'many % with _ (%_%_...b)': '%_'.repeat(((P - 1) / 2) | 0) + 'b',
  '_ run then miss (%___...b%)': '%' + '_'.repeat(P - 3) + 'b%',
  '% then _ run then miss (%a___..b)': '%a' + '_'.repeat(P - 3) + 'b',
  'alternating %ab (%ab%ab..c)': '%ab'.repeat(((P - 1) / 3) | 0) + 'c',
  'near miss segments (%aaaa...b%aaaa..b%)': ('%' + 'a'.repeat(23) + 'b').repeat(4) + '%',
  'only %': '%'.repeat(P),
};
const likeToGlob = (p) => p.replace(/%/g, '*').replace(/_/g, '?');

function time(fn) {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}
async function timeAsync(fn) {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

if (!process.env.BINDINGS_PG_URL) {
  const Database = require('better-sqlite3');
  const db = new Database(':memory:');
  const results = [];
  for (const [tname, text] of Object.entries(TEXTS)) {
    db.exec('DROP TABLE IF EXISTS t; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)');
    const ins = db.prepare('INSERT INTO t (name) VALUES (?)');
    for (let i = 0; i < ROWS; i++) ins.run(text);
    for (const [pname, p] of Object.entries(PATTERNS)) {
      const like = db.prepare("SELECT COUNT(*) c FROM t WHERE LOWER(name) LIKE LOWER(?) ESCAPE '\\'");
      const glob = db.prepare('SELECT COUNT(*) c FROM t WHERE name GLOB ?');
      results.push({ text: tname, pattern: pname, 'LIKE ms': time(() => like.get(p)).toFixed(1), 'GLOB ms': time(() => glob.get(likeToGlob(p))).toFixed(1) });
    }
  }
  console.table(results);
  const q = 'a'.repeat(99) + 'b';
  db.exec('DROP TABLE IF EXISTS t; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)');
  const ins = db.prepare('INSERT INTO t (name) VALUES (?)');
  for (let i = 0; i < ROWS; i++) ins.run(TEXTS.a);
  const viaLike = time(() => db.prepare("SELECT COUNT(*) c FROM t WHERE LOWER(name) LIKE LOWER(?) ESCAPE '\\'").get(`%${q}%`));
  const viaInstr = time(() => db.prepare('SELECT COUNT(*) c FROM t WHERE instr(LOWER(name), LOWER(?)) > 0').get(q));
  console.log(`search q of 100 characters, near miss, one field: LIKE '%q%' ${viaLike.toFixed(1)} ms, instr ${viaInstr.toFixed(1)} ms`);
} else {
  const pg = require('pg');
  const client = new pg.Client({ connectionString: process.env.BINDINGS_PG_URL });
  await client.connect();
  const results = [];
  for (const [tname, text] of Object.entries(TEXTS)) {
    await client.query('DROP TABLE IF EXISTS bench_t; CREATE TABLE bench_t (id serial PRIMARY KEY, name text)');
    for (let i = 0; i < ROWS; i++) await client.query('INSERT INTO bench_t (name) VALUES ($1)', [text]);
    for (const [pname, p] of Object.entries(PATTERNS)) {
      const like = await timeAsync(() => client.query('SELECT COUNT(*) FROM bench_t WHERE name LIKE $1', [p]));
      const ilike = await timeAsync(() => client.query('SELECT COUNT(*) FROM bench_t WHERE name ILIKE $1', [p]));
      results.push({ text: tname, pattern: pname, 'LIKE ms': like.toFixed(1), 'ILIKE ms': ilike.toFixed(1) });
    }
  }
  await client.query('DROP TABLE bench_t');
  await client.end();
  console.table(results);
}
