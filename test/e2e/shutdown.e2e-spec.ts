// Graceful shutdown: app.close() delivers the pushes still pending, then closes every
// socket with 1001 "server shutting down"; a peer that never answers is dropped after shutdownTimeout.
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { connect } from 'node:net';
import { Binding } from '../../lib/index.js';
import { startApp, TestSocket } from '../fixtures/harness.js';

/** Its pushes pass an asynchronous permission check that takes a while. */
@Binding({ app: 'down', can: { retrieve: () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 250)) } })
@Entity()
class Slow {
  @PrimaryGeneratedColumn() id: number;
  @Column() label: string;
}

function closed(socket: TestSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => socket.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

it('flushes pending pushes, then closes every socket with 1001 "server shutting down"', async () => {
  const t = await startApp([Slow]);
  const [a, b] = [await TestSocket.open(t.ws), await TestSocket.open(t.ws)];
  await a.request('down.Slow.subscribe', {});
  await b.request('channel.join', { channel: 'last-words' });
  const ends = [closed(a), closed(b)];
  const order: string[] = [];
  a.socket.on('message', (data) => order.push(JSON.parse(data.toString()).event));
  a.socket.on('close', () => order.push('close'));

  // The push waits 250 ms for its check when app.close() starts.
  await t.dataSource.getRepository(Slow).save({ label: 'the last change' });
  const started = Date.now();
  await t.close();
  expect(Date.now() - started).toBeLessThan(2000);

  expect(await Promise.all(ends)).toEqual([
    { code: 1001, reason: 'server shutting down' },
    { code: 1001, reason: 'server shutting down' },
  ]);
  expect(a.pushes()).toEqual([expect.objectContaining({ event: 'down.Slow.created', data: { id: expect.any(Number), label: 'the last change' } })]);
  expect(order).toEqual(['down.Slow.created', 'close']);
});

it('drops a peer that never answers the close handshake once shutdownTimeout has passed', async () => {
  const t = await startApp([Slow], { shutdownTimeout: 300 });
  const { hostname, port } = new URL(t.ws);
  // A raw client: it upgrades, then never answers anything (not even the close frame).
  const raw = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => raw.once('connect', () => resolve()).once('error', reject));
  raw.write(
    `GET /ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let received = '';
  raw.on('data', (chunk) => (received += chunk.toString('latin1')));
  const ended = new Promise<void>((resolve) => raw.once('close', () => resolve()));
  await new Promise((r) => setTimeout(r, 100));
  expect(received).toContain('101 Switching Protocols');

  const started = Date.now();
  try {
    await t.close();
  } catch (error) {
    raw.destroy();
    throw error;
  }
  const took = Date.now() - started;
  expect(took).toBeGreaterThanOrEqual(250);
  expect(took).toBeLessThan(2000);
  await ended; // the server dropped it
  // It was sent the 1001 close frame (0x88, then the code 0x03 0xE9) before being dropped.
  expect(received).toContain('\x88');
  expect(received).toContain('\x03\xe9server shutting down');
});
