import type { RequestContext } from '../interfaces/request-context.interface.js';
import type { Subscriber } from './subscriber.js';

/** The request context as the actions see it: the public one, plus the socket's subscriptions. */
export interface ActionContext extends RequestContext {
  /** Subscription state of the WebSocket; absent over HTTP. */
  subscriber?: Subscriber;
}
