// Latency from another process's commit to a socket: this process subscribes to bench.Note
// over WebSocket and, on a connection of its own (not the server's), commits N updates one
// after the other, each at a random moment, timing commit -> push on one clock.
// node capture-latency.mjs <ws url> <sqlite file | postgres url> <N>; prints {"p50", "p99"} in ms.
import Database from 'better-sqlite3';
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const [url, target, count = '20'] = process.argv.slice(2);
const socket = new WebSocket(url, { perMessageDeflate: false });
await new Promise((resolve, reject) => (socket.once('open', resolve), socket.once('error', reject)));
const waiting = new Map();
socket.on('message', (raw) => {
  const frame = JSON.parse(raw.toString());
  if (frame.event === 'bench.Note.subscribe') return waiting.get('subscribed')?.();
  const done = frame.event === 'bench.Note.updated' && waiting.get(frame.data.rank);
  if (done) done();
});
await new Promise((resolve) => (waiting.set('subscribed', resolve), socket.send(JSON.stringify({ event: 'bench.Note.subscribe', id: 1, data: {} }))));

let write;
if (target.startsWith('postgres')) {
  const client = new pg.Client({ connectionString: target });
  await client.connect();
  write = (rank) => client.query('UPDATE bench_note SET rank = $1 WHERE id = 1', [rank]);
} else {
  const db = new Database(target, { timeout: 5000 });
  const stmt = db.prepare('UPDATE bench_note SET rank = ? WHERE id = 1');
  write = async (rank) => stmt.run(rank);
}

const latencies = [];
for (let i = 0; i < Number(count); i++) {
  const rank = 1_000_000 + i;
  await new Promise((r) => setTimeout(r, Math.random() * 1000)); // at any point of the poll's period (1 s)
  const pushed = new Promise((resolve) => waiting.set(rank, resolve));
  await write(rank);
  const committed = performance.now();
  await pushed;
  latencies.push(performance.now() - committed);
}
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(JSON.stringify({ p50: at(0.5), p99: at(0.99) }));
process.exit(0);
