// npm run bench: starts the servers, runs the loads and prints ratios measured in the same
// run, each against its baseline. Servers are pinned to core 0 and the load to core 1
// (taskset), the two sides of each comparison alternate (A B A B) and the median is
// reported. Everything listens on 127.0.0.1 and is stopped by its PID.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { benchCapture } from './capture.mjs';

const root = new URL('..', import.meta.url).pathname;
const quick = process.argv.includes('--quick');
// --only=retrieve,rest,fanout,redis,filters,updates,live,capture: run some sections (the table file is written by full runs only).
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const wants = (section) => !only || only.includes(section);
const REQUEST_MS = quick ? 2000 : 5000;
const FANOUT_SIZES = quick ? [1000] : [5000, 10000, 19500];
const UPDATES = quick ? 20 : 50;
const REDIS_UPDATES = quick ? 40 : 200;
const FILTER_SOCKETS = 10_000;
const cores = cpus().length;
const pin = (core) => (cores > 1 ? ['taskset', '-c', String(core)] : []);
const children = new Set();
process.on('exit', () => {
  children.forEach((c) => c.kill('SIGKILL'));
  rmSync(dir, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(1));

const dir = mkdtempSync(join(tmpdir(), 'nest-bindings-bench-'));
const db = join(dir, 'bench.sqlite');

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startServer(name, env = {}) {
  const port = await freePort();
  const [cmd, ...args] = [...pin(0), process.execPath, '--expose-gc', join(root, 'dist/bench/servers', `${name}.js`)];
  const child = spawn(cmd, args, { env: { ...process.env, PORT: String(port), BENCH_DB: db, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  // taskset execs node in place: the child's PID is the server's.
  return { port, pid: child.pid, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) };
}

function load(script, args) {
  const [cmd, ...rest] = [...pin(1), process.execPath, join(root, 'bench/load', script), ...args.map(String)];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()));
      else reject(new Error(`${script} exited with ${code}`));
    });
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
/** The median of one figure over a side's runs. */
const medianOf = (runs, key) => median(runs.map((r) => r[key]));
const results = [];
const report = (name, value, baseline, unit, target) => {
  // Throughput: ours / baseline (higher is better); latency and memory: ours / baseline (lower is better).
  const ratio = value / baseline;
  results.push({ name, value, baseline, unit, ratio, target });
  console.log(`${name}: ${value.toFixed(1)} vs ${baseline.toFixed(1)} ${unit} -> ${ratio.toFixed(2)}x (target ${target})`);
};

async function withServer(name, env, work) {
  const server = await startServer(name, env);
  try {
    return await work(server);
  } finally {
    await server.stop();
  }
}

// Seed once, with the hand-written app.
await withServer('nest-handwritten', {}, async () => undefined);

// 1. Request/reply over WebSocket: 50 connections x 4 in flight. Three rounds, each side once in
// each position, so the median is the middle run of three.
const rps = { bindings: [], handwritten: [], bare: [] };
const retrieveRounds = [
  ['bindings', 'nest-handwritten', 'bare-ws'],
  ['nest-handwritten', 'bare-ws', 'bindings'],
  ['bare-ws', 'bindings', 'nest-handwritten'],
];
for (const order of wants('retrieve') ? retrieveRounds : []) {
  for (const name of order) {
    const { rps: value, errors } = await withServer(name, {}, (s) => load('ws-requests.mjs', [`ws://127.0.0.1:${s.port}/ws`, 50, 4, REQUEST_MS]));
    if (errors) throw new Error(`${name}: ${errors} error replies`);
    rps[name === 'nest-handwritten' ? 'handwritten' : name === 'bare-ws' ? 'bare' : 'bindings'].push(value);
  }
}
if (wants('retrieve')) {
  report('WS retrieve req/s, bindings vs hand-written gateway', median(rps.bindings), median(rps.handwritten), 'req/s', '>= 1.2x');
  report('WS retrieve req/s, bindings vs bare ws (ceiling)', median(rps.bindings), median(rps.bare), 'req/s', '>= 0.5x');
}

// 3. REST retrieve with autocannon.
async function cannon(port, path) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 50,
    duration: REQUEST_MS / 1000,
    requests: [{ setupRequest: (req) => ({ ...req, path: `${path}/${1 + Math.floor(Math.random() * 10000)}` }) }],
  });
  if (result.non2xx) throw new Error(`${path}: ${result.non2xx} non-2xx answers`);
  return result.requests.average;
}
const rest = { bindings: [], fastify: [], handwritten: [] };
for (const order of wants('rest')
  ? [
      ['bindings', 'fastify', 'nest-handwritten'],
      ['nest-handwritten', 'fastify', 'bindings'],
    ]
  : []) {
  for (const side of order) {
    const path = side === 'nest-handwritten' ? '/products' : '/api/shop/Product';
    const [name, env] = side === 'fastify' ? ['bindings', { PLATFORM: 'fastify' }] : [side, {}];
    rest[side === 'nest-handwritten' ? 'handwritten' : side].push(await withServer(name, env, (s) => cannon(s.port, path)));
  }
}
if (wants('rest')) {
  report('REST retrieve req/s, bindings vs hand-written controller', median(rest.bindings), median(rest.handwritten), 'req/s', '>= 1.0x');
  report('REST retrieve req/s, bindings on Fastify vs hand-written Express controller', median(rest.fastify), median(rest.handwritten), 'req/s', '>= 2x');
}

// 2 and 4. Fan-out and memory per idle subscribed connection.
for (const size of wants('fanout') ? FANOUT_SIZES : []) {
  const runs = { bindings: [], bare: [] };
  for (const order of [
    ['bindings', 'bare-ws'],
    ['bare-ws', 'bindings'],
  ]) {
    for (const name of order) {
      const result = await withServer(name, {}, (s) => {
        const trigger = name === 'bindings' ? `PATCH http://127.0.0.1:${s.port}/api/shop/Product/1` : `POST http://127.0.0.1:${s.port}/broadcast`;
        return load('fanout.mjs', [`ws://127.0.0.1:${s.port}/ws`, size, UPDATES, name === 'bindings' ? 'bindings' : 'bare', trigger, s.pid]);
      });
      if (result.missing || result.duplicated) throw new Error(`${name} fan-out: ${result.missing} missing, ${result.duplicated} duplicated`);
      runs[name === 'bindings' ? 'bindings' : 'bare'].push(result);
    }
  }
  report(`fan-out to ${size} sockets, p50 ms`, medianOf(runs.bindings, 'p50'), medianOf(runs.bare, 'p50'), 'ms', '<= 1.1x');
  report(`fan-out to ${size} sockets, p99 ms`, medianOf(runs.bindings, 'p99'), medianOf(runs.bare, 'p99'), 'ms', '<= 1.1x');
  report(
    `RSS per idle subscribed connection at ${size}`,
    medianOf(runs.bindings, 'rssPerConnection') / 1024,
    medianOf(runs.bare, 'rssPerConnection') / 1024,
    'KiB',
    '<= 1.3x',
  );
  report(
    `heap per idle subscribed connection at ${size}`,
    medianOf(runs.bindings, 'heapPerConnection') / 1024,
    medianOf(runs.bare, 'heapPerConnection') / 1024,
    'KiB',
    '<= 1.1x',
  );
}

// 5. Two instances over Redis vs one instance: the same sockets split over two servers that share
// pushes through Redis, against one server alone (no Redis), alternating (A B B A A B: the median
// is the middle run of three). A p99 needs rounds: REDIS_UPDATES per run, so the figure is not
// the single worst round.
if (!wants('redis')) {
  // not asked for
} else if (process.env.BINDINGS_REDIS_URL) {
  const size = FANOUT_SIZES[0];
  const runs = { one: [], two: [] };
  for (const side of ['one', 'two', 'two', 'one', 'one', 'two']) {
    if (side === 'one') {
      runs.one.push(
        await withServer('bindings', {}, (s) =>
          load('fanout.mjs', [`ws://127.0.0.1:${s.port}/ws`, size, REDIS_UPDATES, 'bindings', `PATCH http://127.0.0.1:${s.port}/api/shop/Product/1`, s.pid]),
        ),
      );
      continue;
    }
    const env = { REDIS_URL: process.env.BINDINGS_REDIS_URL, REDIS_PREFIX: `bench${Date.now()}:` };
    const a = await startServer('bindings', env);
    const b = await startServer('bindings', env);
    try {
      runs.two.push(
        await load('fanout.mjs', [
          `ws://127.0.0.1:${a.port}/ws,ws://127.0.0.1:${b.port}/ws`,
          size,
          REDIS_UPDATES,
          'bindings',
          `PATCH http://127.0.0.1:${a.port}/api/shop/Product/1`,
          `${a.pid},${b.pid}`,
        ]),
      );
    } finally {
      await a.stop();
      await b.stop();
    }
  }
  for (const run of [...runs.one, ...runs.two])
    if (run.missing || run.duplicated) throw new Error(`Redis fan-out: ${run.missing} missing, ${run.duplicated} duplicated`);
  const { changesPerSecond } = await load('redis-changes.mjs', [process.env.BINDINGS_REDIS_URL, 64, REQUEST_MS]);
  results.push({
    name: 'changes/s one Redis connection carries (2 rooms each, 64 in flight)',
    value: changesPerSecond,
    unit: 'changes/s',
    target: 'information',
  });
  console.log(`changes/s through one Redis connection: ${changesPerSecond}`);
  report(`two instances over Redis vs one, fan-out to ${size}, p50 ms`, medianOf(runs.two, 'p50'), medianOf(runs.one, 'p50'), 'ms', 'information');
  report(`two instances over Redis vs one, fan-out to ${size}, p99 ms`, medianOf(runs.two, 'p99'), medianOf(runs.one, 'p99'), 'ms', '<= 1.2x');
} else {
  console.log('two instances over Redis: skipped (set BINDINGS_REDIS_URL, e.g. via scripts/services.sh env)');
}

// 7. Updates over WebSocket: 50 connections x 4 in flight, random ids, vs the hand-written gateway.
if (wants('updates')) {
  const ups = { bindings: [], handwritten: [] };
  for (const name of ['bindings', 'nest-handwritten', 'nest-handwritten', 'bindings', 'bindings', 'nest-handwritten']) {
    const { rps: value, errors } = await withServer(name, {}, (s) =>
      load('ws-requests.mjs', [`ws://127.0.0.1:${s.port}/ws`, 50, 4, REQUEST_MS, 10000, 'update']),
    );
    if (errors) throw new Error(`${name} updates: ${errors} error replies`);
    ups[name === 'bindings' ? 'bindings' : 'handwritten'].push(value);
    console.log(`  updates, ${name}: ${value}/s`);
  }
  report('WS update/s, bindings vs hand-written gateway', median(ups.bindings), median(ups.handwritten), 'updates/s', '>= 1.5x');
}

// 6. One change among 10,000 distinct filter rooms vs among 10 (the same 10 sockets get it).
if (wants('filters')) {
  const sockets = quick ? 2000 : FILTER_SOCKETS;
  const runs = { few: [], many: [] };
  for (const mode of ['few', 'many', 'many', 'few', 'few', 'many', 'many', 'few', 'few', 'many']) {
    const result = await withServer('bindings', {}, (s) =>
      load('filter-rooms.mjs', [`ws://127.0.0.1:${s.port}/ws`, sockets, quick ? 50 : 200, mode, `PATCH http://127.0.0.1:${s.port}/api/shop/Product/1`, s.pid]),
    );
    if (result.missing) throw new Error(`filter rooms (${mode}): ${result.missing} pushes missing`);
    runs[mode].push(result);
    console.log(`  filter rooms, ${mode}: ${JSON.stringify(result)}`);
  }
  const rooms = `${sockets.toLocaleString('en')} filter rooms vs 10`;
  report(`one change among ${rooms}, p50 ms`, medianOf(runs.many, 'p50'), medianOf(runs.few, 'p50'), 'ms', '<= 1.25x');
  report(`one change among ${rooms}, server CPU ms`, medianOf(runs.many, 'cpuPerChange'), medianOf(runs.few, 'cpuPerChange'), 'ms', '<= 1.25x');
}

// 8. Live lists vs the equivalent filter rooms (bench/load/live-lists.mjs).
if (wants('live')) {
  const [sockets, distinct] = [quick ? 500 : 1000, 100];
  const runs = { live: [], filter: [], reading: [] };
  for (const order of [
    ['live', 'filter', 'reading'],
    ['reading', 'filter', 'live'],
  ]) {
    for (const mode of order) {
      const result = await withServer('bindings', {}, (s) =>
        load('live-lists.mjs', [
          `ws://127.0.0.1:${s.port}/ws`,
          sockets,
          distinct,
          UPDATES,
          mode === 'filter' ? 'filter' : 'live',
          `http://127.0.0.1:${s.port}`,
          mode === 'reading' ? 'name' : 'price',
        ]),
      );
      if (result.missing) throw new Error(`live lists (${mode}): ${result.missing} frames missing`);
      runs[mode].push(result);
    }
  }
  const p = (mode, key) => medianOf(runs[mode], key);
  report(`live lists, ${sockets} sockets over ${distinct} requests, p50 ms until the last frame`, p('live', 'p50'), p('filter', 'p50'), 'ms', '<= 1.5x');
  report(`live lists, ${sockets} sockets over ${distinct} requests, p99 ms until the last frame`, p('live', 'p99'), p('filter', 'p99'), 'ms', '<= 1.5x');
  // Extra queries per change over the filter rooms' own (the write and its capture), per distinct page touched.
  const extra = (mode, key) => median(runs[mode].map((r) => r.queries[key])) - median(runs.filter.map((r) => r.queries[key]));
  report(`live lists, extra queries per touched page (in memory)`, (extra('live', 'enter') + extra('live', 'leave')) / 2 / distinct, 1, 'queries', '<= 1');
  report(`live lists ordered by a string (every change reads), p50 ms until the last frame`, p('reading', 'p50'), p('filter', 'p50'), 'ms', 'information');
  report(
    `live lists ordered by a string, extra queries per touched page`,
    (extra('reading', 'enter') + extra('reading', 'leave')) / 2 / distinct,
    1,
    'queries',
    '<= 1',
  );
}

// 9. What each capture mode costs per write, and another process's commit -> socket (bench/capture.mjs).
if (wants('capture')) await benchCapture({ startServer, load, report, median, quick, dir });

const machine = `${cores} cores (${cpus()[0].model}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const table = [
  `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; servers on core 0, load on core 1; medians of alternating runs.`,
  '',
  '| measure | nest-bindings | baseline | ratio | target |',
  '|---|---|---|---|---|',
  ...results.map((r) =>
    r.baseline === undefined
      ? `| ${r.name} | ${r.value.toFixed(1)} ${r.unit} | - | - | ${r.target} |`
      : `| ${r.name} | ${r.value.toFixed(1)} ${r.unit} | ${r.baseline.toFixed(1)} ${r.unit} | ${r.ratio.toFixed(2)}x | ${r.target} |`,
  ),
].join('\n');
if (!only) {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/latest.md'), table + '\n');
}
console.log('\n' + table);
process.exit(0);
