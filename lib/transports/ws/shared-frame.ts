import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** What of ws's socket a direct write reads: its network socket and its sender's state (ws 8). */
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
