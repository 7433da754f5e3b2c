// Live lists against filter rooms: S sockets, each holding one of D distinct requests, either
// as a live list (`list` with live: true) or as the equivalent filter room (`subscribe
// {filter}`, plain row pushes). Then U updates of one row, one after another, each moving it
// into page 1 of every request (even rounds) or out again (odd rounds), so every socket gets
// one frame or push per update. For each: the time from the trigger until the last socket
// has it, and the database queries the server ran for it (the server counts them, see
// bench/servers/bindings.ts). With order `name` (a string: not comparable in memory) every
// change reads each touched page again: the worst case. Prints JSON {p50, p99, missing,
// queries: {enter, leave}}.
import { call, openAll, openSubscriber } from './subscribers.mjs';

const [url, total, distinct, updates, mode, base, orderBy = 'price'] = process.argv.slice(2);
const count = Number(total);
const kinds = Number(distinct);
const ROW = 5; // seeded with price 4; moved out of every filter (500) before the rounds, a price of 0 puts it on page 1 of every request
const filterOf = (k) => ({ price: { lt: 100 + k } });

let pending = 0;
let resolveRound;
const received = new Array(count).fill(0);

function open(index) {
  const onPush = () => {
    received[index]++;
    if (--pending === 0) resolveRound?.();
  };
  const k = index % kinds;
  const ask =
    mode === 'live'
      ? { event: 'shop.Product.list', id: 1, data: { filter: filterOf(k), order: { [orderBy]: 'ASC' }, limit: 10, live: true } }
      : { event: 'shop.Product.subscribe', id: 1, data: { filter: filterOf(k) } };
  return openSubscriber(url, ask, onPush);
}

const request = (method, path, body) => call(method, `${base}${path}`, body);
const queries = async () => JSON.parse(await request('POST', '/api/events', { event: 'bench.queries' })).queries;

const sockets = await openAll(count, open, 250);
await new Promise((r) => setTimeout(r, 300));
// Out of every filter first (untimed), so that each round changes every page or its count.
await request('PATCH', `/api/shop/Product/${ROW}`, { price: 500 });
await new Promise((r) => setTimeout(r, 500));
received.fill(0);

const times = [];
const spent = { enter: [], leave: [] };
for (let round = 0; round < Number(updates); round++) {
  pending = count;
  const done = new Promise((resolve) => (resolveRound = resolve));
  const before = await queries();
  const started = process.hrtime.bigint();
  await request('PATCH', `/api/shop/Product/${ROW}`, { price: round % 2 === 0 ? 0 : 500 });
  await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
  times.push(Number(process.hrtime.bigint() - started) / 1e6);
  await new Promise((r) => setTimeout(r, 20)); // re-reads still running would be counted in the next round
  // The bench.queries call itself is not a database query.
  spent[round % 2 === 0 ? 'enter' : 'leave'].push((await queries()) - before);
}
const missing = received.reduce((sum, n) => sum + Math.max(0, Number(updates) - n), 0);
await request('PATCH', `/api/shop/Product/${ROW}`, { price: 4 });
if (process.env.LIVE_BENCH_DEBUG) console.error(JSON.stringify(times));
times.sort((a, b) => a - b);
const pick = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
const mean = (values) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
console.log(JSON.stringify({ p50: pick(0.5), p99: pick(0.99), missing, queries: { enter: mean(spent.enter), leave: mean(spent.leave) } }));
for (const socket of sockets) socket.terminate();
process.exit(0);
