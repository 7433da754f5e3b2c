import { Injectable } from '@nestjs/common';

/**
 * Counters the transports write and the statistics read, so the admin (an operations
 * concern, below the transports) never reaches into a transport.
 */
@Injectable()
export class Traffic {
  /** Requests served since start: WebSocket frames and REST events. */
  requests = 0;
  /** WebSockets open now. */
  sockets = 0;
}
