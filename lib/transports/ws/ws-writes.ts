import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * What of ws's socket these writes read (ws 8): its network socket and its sender's state,
 * each checked before use; where they are not as expected, the caller sends through ws.
 */
interface WsInternals {
  _socket?: Socket;
  _sender?: { _state?: number; _queue?: unknown[]; _firstFragment?: boolean };
}

/**
 * A whole unmasked WebSocket text frame (FIN set, RFC 6455 section 5.2) around `payload`:
 * built once per push and room, then written as it is to every socket of the room, where
 * ws would build a header and write two buffers for each socket.
 */
export function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, headerLength);
  return frame;
}

/**
 * Writes a frame from `textFrame` straight to the socket's network connection when ws has
 * nothing in progress of its own (no message being compressed or read from a Blob, none
 * queued behind one, no fragmented message open), so the frame cannot overtake or split
 * one of ws's. False when it did not write (or ws is not laid out as expected): the caller
 * then sends through ws.
 */
export function writeFrame(ws: WebSocket, frame: Buffer): boolean {
  const { _socket: socket, _sender: sender } = ws as unknown as WsInternals;
  if (!socket || sender?._state !== 0 || sender._queue?.length !== 0 || sender._firstFragment !== true) return false;
  socket.write(frame);
  return true;
}

/**
 * Network sockets corked during the current tick. Replies to requests that arrived together
 * (a client with several in flight) then leave in one write system call instead of one each;
 * everything is uncorked, in order, once the tick's promise jobs have run.
 */
const corked: Socket[] = [];
function uncorkAll(): void {
  for (const socket of corked) socket.uncork();
  corked.length = 0;
}

/** Holds what is sent to `ws` until the end of the current tick, to leave in one write. */
export function corkUntilTick(ws: WebSocket): void {
  const socket = (ws as unknown as WsInternals)._socket;
  if (!socket) return;
  if (corked.push(socket) === 1) process.nextTick(uncorkAll);
  socket.cork();
}
