// How many changes per second one Redis connection carries: the Redis adapter of the build
// (dist) publishes changes of one row through two rooms (its instance room and its model
// room), with K changes in flight, for D ms: per change one script numbering its rooms, keeping
// the push for replay and publishing it once. A change counts once its message is back (the
// adapter delivers its own pushes from the channel). Prints {"changesPerSecond": n}.
import { RedisRoomAdapter } from '../../dist/lib/adapters/redis/redis-room-adapter.js';

const [url, inflight = '64', duration = '3000'] = process.argv.slice(2);
const binding = { stream: 'bench.Row', options: {} };
const rooms = [
  { room: 'bench.Row:1', key: 'bench.Row:1' },
  { room: 'bench.Row', key: 'bench.Row' },
];
let delivered = 0;
let wake;
const host = {
  streams: () => [],
  roomsFor: () => rooms,
  prepare: (change, numbered) => ({
    stream: binding.stream,
    changeId: `c${change.n}`,
    row: change.after,
    head: '{"event":"bench.Row.updated"',
    tail: `,"change":"c${change.n}","data":${JSON.stringify(change.after)}}`,
    frames: numbered.map(({ room, seq }) => ({ room, seq, frame: '' })),
  }),
  pushFrame: () => '',
  deliver: () => {
    delivered++;
    wake?.();
  },
  publish: () => {
    throw new Error('Redis is unreachable');
  },
};
const adapter = new RedisRoomAdapter({ redis: url, keyPrefix: `benchchanges${Date.now()}:`, replay: { size: 100, maxAge: 60_000 } });
adapter.attach(host);
await adapter.onModuleInit();
let sent = 0;
const change = () => ({ binding, kind: 'updated', id: 1, n: ++sent, before: { id: 1, v: sent - 1 }, after: { id: 1, v: sent } });
const started = process.hrtime.bigint();
const until = Date.now() + Number(duration);
while (Date.now() < until) {
  while (sent - delivered < Number(inflight)) adapter.publish(change());
  await new Promise((resolve) => (wake = resolve));
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(JSON.stringify({ changesPerSecond: Math.round(delivered / seconds) }));
await adapter.onModuleDestroy();
process.exit(0);
