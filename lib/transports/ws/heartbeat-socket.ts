import { WebSocket } from 'ws';

/**
 * The sockets the transport's server makes (ws's `WebSocket` option). A pong marks the
 * socket alive as it is emitted, so no socket needs a 'pong' listener: a socket's listeners
 * live in a dictionary with room for three kinds, and a fourth (besides message, close and
 * error) would double it, about 96 bytes per idle socket.
 */
export class HeartbeatSocket extends WebSocket {
  /** Whether the peer answered the last heartbeat ping (a new socket counts as answered). */
  alive = true;

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'pong') this.alive = true;
    return super.emit(event, ...args);
  }
}

/** For sockets not made by the transport's server (an adapter that dropped the option): the same mark through a listener. */
export function markAlive(this: WebSocket): void {
  (this as HeartbeatSocket).alive = true;
}
