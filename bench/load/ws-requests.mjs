// Request/reply load: C connections with K requests in flight each, for D ms, against
// {event, id, data: {id}} retrieves of random rows, or (action `update`) updates of a random
// row's price. Prints {"rps": n, "errors": n} as JSON.
import WebSocket from 'ws';

const [url, connections = '50', inflight = '4', duration = '5000', rows = '10000', action = 'retrieve'] = process.argv.slice(2);
const event = `shop.Product.${action}`;
const data =
  action === 'update'
    ? () => ({ id: 1 + Math.floor(Math.random() * Number(rows)), price: Math.floor(Math.random() * 1000) })
    : () => ({ id: 1 + Math.floor(Math.random() * Number(rows)) });
let done = 0;
let errors = 0;
let running = true;
let next = 1;

const sockets = await Promise.all(
  Array.from(
    { length: Number(connections) },
    () =>
      new Promise((resolve, reject) => {
        const socket = new WebSocket(url, { perMessageDeflate: false });
        socket.once('open', () => resolve(socket));
        socket.once('error', reject);
      }),
  ),
);
const send = (socket) => socket.send(JSON.stringify({ event, id: next++, data: data() }));
const started = process.hrtime.bigint();
for (const socket of sockets) {
  socket.on('message', (raw) => {
    if (raw.includes('"error"')) errors++;
    done++;
    if (running) send(socket);
  });
  for (let i = 0; i < Number(inflight); i++) send(socket);
}
await new Promise((r) => setTimeout(r, Number(duration)));
running = false;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(JSON.stringify({ rps: Math.round(done / seconds), errors }));
for (const socket of sockets) socket.terminate();
process.exit(0);
