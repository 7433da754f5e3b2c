// What the push loads (fanout, filter-rooms, live-lists) share: sockets that send one request,
// wait for its reply, then hand every push to the load; opened in batches so the server's
// accept queue is not flooded; and one HTTP call that triggers a change.
import http from 'node:http';
import WebSocket from 'ws';

/**
 * Opens a socket, sends `request` (its `id` must be 1) and resolves with the socket once the
 * reply comes (rejects on an error reply); every frame without an `id` goes to `onPush`.
 */
export function openSubscriber(url, request, onPush, options = {}) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, ...options });
    socket.once('error', reject);
    socket.once('open', () => {
      socket.on('message', (raw) => {
        const frame = JSON.parse(raw);
        if (frame.id === undefined) return onPush(frame);
        if (frame.error) reject(new Error(JSON.stringify(frame.error)));
        else if (frame.id === 1) resolve(socket);
      });
      socket.send(JSON.stringify(request));
    });
  });
}

/** Opens `count` sockets with `open(index)`, `batch` at a time. */
export async function openAll(count, open, batch = 500) {
  const sockets = [];
  for (let i = 0; i < count; i += batch) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => open(i + j)))));
  }
  return sockets;
}

/** One HTTP request with a JSON body (none when `body` is undefined); resolves with the answer's text. */
export function call(method, target, body) {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const req = http.request(
      target,
      { method, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }, agent: false },
      (res) => {
        let out = '';
        res.on('data', (chunk) => (out += chunk));
        res.on('end', () => resolve(out));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}
