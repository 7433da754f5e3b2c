import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { ROWS } from './product.js';

// The ceiling: a bare `ws` server answering {event,id,data} requests from a Map, and
// broadcasting one pre-serialized frame to every socket on POST /broadcast.
const rows = new Map<number, object>();
for (let id = 1; id <= ROWS; id++) rows.set(id, { id, name: `Product ${id}`, price: (id - 1) % 1000, status: 'open' });

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/heap') {
    // The heap in use after a full collection (the bench runs servers with --expose-gc).
    (globalThis as { gc?: () => void }).gc?.();
    res.end(JSON.stringify({ heapUsed: process.memoryUsage().heapUsed }));
    return;
  }
  if (req.method === 'POST' && req.url === '/broadcast') {
    const frame = JSON.stringify({ event: 'shop.Product.updated', room: 'shop.Product:1', seq: ++seq, data: rows.get(1) });
    for (const socket of wss.clients) socket.send(frame);
    res.end('{}');
    return;
  }
  res.statusCode = 404;
  res.end();
});
let seq = 0;
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
wss.on('connection', (socket: WebSocket) => {
  socket.on('message', (raw) => {
    const frame = JSON.parse(raw.toString());
    if (frame.event === 'shop.Product.subscribe') {
      socket.send(JSON.stringify({ event: frame.event, id: frame.id, data: { room: `shop.Product:${frame.data.id}` } }));
      return;
    }
    const row = rows.get(frame.data?.id);
    socket.send(
      JSON.stringify(
        row ? { event: frame.event, id: frame.id, data: row } : { event: frame.event, id: frame.id, error: { code: 'not_found', message: 'not found' } },
      ),
    );
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
