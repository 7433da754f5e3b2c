import { WebSocket } from 'ws';
import { Subscriber } from '../../rooms/subscriber.js';
import { corkUntilTick, textFrame, writeFrame } from './ws-writes.js';

/** Close code for a peer that does not read fast enough (RFC 6455 "try again later"). */
export const CLOSE_SLOW_CONSUMER = 1013;
/** Close code for a connection over a policy limit (RFC 6455). */
export const CLOSE_POLICY_VIOLATION = 1008;

/** Refill times count from here: small integers, kept in the object, where a Date.now() would be a boxed number per socket. */
const EPOCH = Date.now();

/** The last shared push framed, and its frame: the members of a room are sent one after another. */
let framedPayload: Buffer | undefined;
let framed: Buffer | undefined;

/** One WebSocket: its user, its subscriptions, its rate budget and its send buffer bound. */
export class WsConnection extends Subscriber {
  private tokens: number;
  private refilledAt = Date.now() - EPOCH;

  /** `name`: what `identify` gave `user`, null when anonymous (counted for `limits.connectionsPerUser` under it). */
  constructor(
    readonly socket: WebSocket,
    user: unknown,
    name: string | null,
    private readonly limits: { sendBuffer: number; framesPerSecond: number; burst: number },
  ) {
    super(user, name);
    this.tokens = limits.burst;
  }

  send(frame: string, bytes?: Buffer): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    // A peer that stops reading would make the buffer grow without end: drop it instead.
    if (this.socket.bufferedAmount > this.limits.sendBuffer) {
      this.socket.close(CLOSE_SLOW_CONSUMER, 'send buffer full');
      return;
    }
    // A push shared by a room is framed once for the room and written whole to each socket;
    // one frame per socket gains nothing from corking.
    if (bytes) {
      if (bytes !== framedPayload) [framedPayload, framed] = [bytes, textFrame(bytes)];
      if (!writeFrame(this.socket, framed!)) this.socket.send(bytes, { binary: false });
      return;
    }
    corkUntilTick(this.socket);
    this.socket.send(frame);
  }

  /** Takes one frame from the token bucket; false when the socket is over its rate. */
  admit(now: number): boolean {
    const elapsed = now - EPOCH - this.refilledAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.limits.burst, this.tokens + (elapsed * this.limits.framesPerSecond) / 1000);
      this.refilledAt = now - EPOCH;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
