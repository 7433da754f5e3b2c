// Fan-out: S sockets subscribed to one object (split over one or more server URLs); then
// U updates, one after another, each triggered by an HTTP request; for each, the time from
// the trigger until the last socket has the push. Checks that every socket got every push
// exactly once. Prints JSON {p50, p99, missing, duplicated, rssPerConnection?, heapPerConnection}.
import { readFileSync } from 'node:fs';
import { call, openAll, openSubscriber } from './subscribers.mjs';

const [urlsText, total, updates, mode, trigger, serverPids = ''] = process.argv.slice(2);
const urls = urlsText.split(',');
const count = Number(total);
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
const pids = serverPids ? serverPids.split(',').map(Number) : [];
const baseline = pids.reduce((sum, pid) => sum + rss(pid), 0);
// The servers' heap after a full collection (GET /heap), summed.
const heap = async () => {
  let sum = 0;
  for (const url of urls) sum += (await (await fetch(url.replace(/^ws/, 'http').replace(/\/ws$/, '/heap'))).json()).heapUsed;
  return sum;
};
const heapBaseline = await heap();

const received = new Array(count).fill(0);
// Pushes of one room arrive in seq order: one whose seq is not above the last is a duplicate.
// (A number per socket, not a set of what it saw: the load's own garbage would show in the tail.)
const lastSeq = new Float64Array(count);
let duplicated = 0;
let pending = 0;
let resolveRound;

function open(index) {
  // Spread over source addresses 127.0.0.1-8: one address has fewer free ports than 19,500 sockets may need.
  const onPush = (frame) => {
    if (frame.seq <= lastSeq[index]) duplicated++;
    lastSeq[index] = frame.seq;
    received[index]++;
    if (--pending === 0) resolveRound?.();
  };
  const request = { event: 'shop.Product.subscribe', id: 1, data: { id: 1 } };
  return openSubscriber(urls[index % urls.length], request, onPush, { localAddress: `127.0.0.${1 + (index % 8)}` });
}

const sockets = await openAll(count, open);
await new Promise((r) => setTimeout(r, 500));
const rssPerConnection = pids.length ? (pids.reduce((sum, pid) => sum + rss(pid), 0) - baseline) / count : undefined;
const heapPerConnection = ((await heap()) - heapBaseline) / count;

function fire(round) {
  const [method, target] = trigger.split(' ');
  // The bare server's trigger takes no body.
  return call(method, target, mode === 'bindings' ? { price: 1000 + round } : undefined);
}

const times = [];
for (let round = 0; round < Number(updates); round++) {
  pending = count;
  const done = new Promise((resolve) => (resolveRound = resolve));
  const started = process.hrtime.bigint();
  await fire(round);
  await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
  times.push(Number(process.hrtime.bigint() - started) / 1e6);
}
await new Promise((r) => setTimeout(r, 200));
times.sort((a, b) => a - b);
const pick = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
const missing = received.reduce((sum, n) => sum + Math.max(0, Number(updates) - n), 0);
console.log(JSON.stringify({ p50: pick(0.5), p99: pick(0.99), missing, duplicated, rssPerConnection, heapPerConnection }));
for (const socket of sockets) socket.terminate();
process.exit(0);
