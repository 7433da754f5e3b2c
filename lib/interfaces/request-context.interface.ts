import type { WebSocket } from 'ws';

/** What every action and custom handler knows about the request it serves. */
export interface RequestContext {
  /** What `authenticate` returned; null for an anonymous caller. */
  user: any;
  /** The WebSocket the request came on; absent over HTTP. */
  socket?: WebSocket;
  /** The request's correlation id, echoed in the reply; undefined over REST. */
  id?: string | number;
  /** The transport the request came on. */
  transport: 'ws' | 'http';
}
