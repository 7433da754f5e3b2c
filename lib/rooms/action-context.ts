import type { RequestContext } from '../interfaces/request-context.interface.js';
import type { Subscriber } from './subscriber.js';

/** The request context as the actions see it: the public one, plus the socket's subscriptions. */
export interface ActionContext extends RequestContext {
  /** Subscription state of the WebSocket; absent over HTTP. */
  subscriber?: Subscriber;
  /**
   * Set by a transport that sends replies itself: called once the reply went out (`sent`
   * false when an error was sent instead). A live list starts its frames there, so that
   * none arrives before its page.
   */
  afterReply?: Array<(sent: boolean) => void>;
}
