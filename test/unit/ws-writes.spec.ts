import { jest } from '@jest/globals';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { corkUntilTick, textFrame, writeFrame } from '../../lib/transports/ws/ws-writes.js';

/** Writes below ws's own (lib/transports/ws/ws-writes.ts): a push framed once for a room and written whole to each socket; replies of one tick in one write. */

// ws's frame parser (exported by ws, absent from its type declarations).
const { Receiver } = createRequire(import.meta.url)('ws') as { Receiver: new (options: { isServer: boolean }) => Writable };

/** The messages ws's own receiver reads from `bytes`, as a client would. */
function decode(bytes: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const messages: string[] = [];
    const receiver = new Receiver({ isServer: false });
    receiver.on('message', (data: Buffer, isBinary: boolean) => messages.push(`${isBinary ? 'binary' : 'text'}:${data.toString()}`));
    receiver.on('error', reject);
    receiver.write(bytes, () => resolve(messages));
  });
}

describe('textFrame', () => {
  it.each([0, 1, 125, 126, 65535, 65536, 70000])('frames a payload of %i bytes as one final text frame', async (length) => {
    const payload = Buffer.from('x'.repeat(length));
    const frame = textFrame(payload);
    expect(await decode(Buffer.concat([frame, textFrame(Buffer.from('next'))]))).toEqual([`text:${payload}`, 'text:next']);
  });
});

describe('writeFrame', () => {
  let server: WebSocketServer;
  let client: WebSocket;
  let socket: WebSocket;
  const received: string[] = [];

  beforeEach(async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    server = new WebSocketServer({ port, host: '127.0.0.1' });
    const accepted = new Promise<WebSocket>((resolve) => server.once('connection', resolve));
    client = new WebSocket(`ws://127.0.0.1:${port}`);
    received.length = 0;
    client.on('message', (data) => received.push(data.toString()));
    await new Promise((resolve) => client.once('open', resolve));
    socket = await accepted;
  });

  afterEach(async () => {
    client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  const arrived = (count: number) =>
    new Promise<void>((resolve) => {
      const check = () => (received.length >= count ? resolve() : setTimeout(check, 5));
      check();
    });

  it('writes the frame straight to the connection, in order with what ws sent before', async () => {
    socket.send('first');
    expect(writeFrame(socket, textFrame(Buffer.from('second')))).toBe(true);
    socket.send('third');
    await arrived(3);
    expect(received).toEqual(['first', 'second', 'third']);
  });

  it('leaves the frame to ws while ws is busy with a message of its own, so nothing overtakes it', async () => {
    socket.send(new Blob(['from a blob'])); // ws reads a Blob asynchronously: later frames queue behind it
    expect(writeFrame(socket, textFrame(Buffer.from('pushed')))).toBe(false);
    socket.send(Buffer.from('pushed'), { binary: false });
    await arrived(2);
    expect(received).toEqual(['from a blob', 'pushed']);
  });

  it('holds what is sent until the end of the tick, then sends it in order in one write', async () => {
    const raw = (socket as unknown as { _socket: import('node:net').Socket })._socket;
    const writes = jest.spyOn(raw, '_writev' as never);
    const write = jest.spyOn(raw, '_write' as never);
    corkUntilTick(socket);
    socket.send('one');
    corkUntilTick(socket);
    socket.send('two');
    expect(raw.writableCorked).toBe(2);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(raw.writableCorked).toBe(0);
    expect(writes).toHaveBeenCalledTimes(1);
    expect(write).not.toHaveBeenCalled();
    await arrived(2);
    expect(received).toEqual(['one', 'two']);
  });
});
