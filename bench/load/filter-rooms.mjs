// Filter rooms: S sockets, the first 10 each on a distinct filter that product 1 matches;
// the others on rooms product 1 never matches: with `few`, one instance room each (so the
// model has 10 filter rooms in all); with `many`, a distinct equality filter each (so it has
// S filter rooms). Then U updates of product 1, one after another, each a REST PATCH; for
// each, the time until all 10 matching sockets have the push, and the server's CPU time
// (user + system, /proc/<pid>/stat) over all updates. Prints JSON {p50, cpuPerChange, missing}.
import { readFileSync } from 'node:fs';
import { call, openAll, openSubscriber } from './subscribers.mjs';

const [url, total, updates, mode, trigger, serverPid] = process.argv.slice(2);
const count = Number(total);
const MATCHING = 10;
const ticks = () => {
  const fields = readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (1/100 s)
};

let pending = 0;
let resolveRound;
let received = 0;

/** What socket `i` subscribes to. */
function subscription(i) {
  if (i < MATCHING) return { filter: { id: 1, price: { gte: -i } } };
  const j = 2 + i; // never product 1
  if (mode === 'few') return { id: 2 + (i % 9998) }; // rows 2..9999 exist
  // Distinct equality filters on three fields, none of which product 1 ever meets.
  if (i % 3 === 0) return { filter: { id: j } };
  if (i % 3 === 1) return { filter: { name: `Product ${j}`, status: 'open' } };
  return { filter: { price: { in: [5000 + j, 5001 + j] } } };
}

function open(index) {
  const onPush = () => {
    received++;
    if (--pending === 0) resolveRound?.();
  };
  return openSubscriber(url, { event: 'shop.Product.subscribe', id: 1, data: subscription(index) }, onPush);
}

const sockets = await openAll(count, open);
await new Promise((r) => setTimeout(r, 500));

function fire(round) {
  const [method, target] = trigger.split(' ');
  return call(method, target, { price: 1000 + (round % 1000) });
}

const times = [];
const cpuBefore = ticks();
for (let round = 0; round < Number(updates); round++) {
  pending = MATCHING;
  const done = new Promise((resolve) => (resolveRound = resolve));
  const started = process.hrtime.bigint();
  await fire(round);
  await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
  times.push(Number(process.hrtime.bigint() - started) / 1e6);
}
const cpuPerChange = ((ticks() - cpuBefore) * 10) / Number(updates); // ms
await new Promise((r) => setTimeout(r, 200));
times.sort((a, b) => a - b);
const missing = MATCHING * Number(updates) - received;
console.log(JSON.stringify({ p50: times[Math.floor(times.length / 2)], cpuPerChange, missing }));
for (const socket of sockets) socket.terminate();
process.exit(0);
