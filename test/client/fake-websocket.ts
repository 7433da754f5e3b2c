/**
 * A WebSocket stand-in for the client's unit tests: the test opens, feeds and drops it.
 * `socketClass()` gives each test its own class, so instances never leak between tests.
 */
export class FakeSocket {
  readyState = 0;
  onopen: ((event: any) => void) | null = null;
  onclose: ((event: any) => void) | null = null;
  onerror: ((event: any) => void) | null = null;
  onmessage: ((event: any) => void) | null = null;
  readonly sent: any[] = [];
  closedWith?: number;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('InvalidStateError');
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000): void {
    if (this.readyState >= 2) return;
    this.closedWith = code;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code }));
  }

  // --- driven by the test ---

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }

  /** Answers the last request named `event` (or the last request) with `data`. */
  reply(data: unknown, event?: string): any {
    const request = this.last(event);
    this.receive({ event: request.event, id: request.id, data });
    return request;
  }

  fail(error: { code: string; message: string; details?: unknown }, event?: string): any {
    const request = this.last(event);
    this.receive({ event: request.event, id: request.id, error });
    return request;
  }

  last(event?: string): any {
    const requests = event ? this.sent.filter((f) => f.event === event) : this.sent;
    if (!requests.length) throw new Error(`no request ${event ?? ''} was sent`);
    return requests.at(-1);
  }

  /** The connection is lost (no close handshake). */
  drop(code = 1006): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code });
  }
}

export function socketClass() {
  const instances: FakeSocket[] = [];
  class Socket extends FakeSocket {
    constructor(url: string) {
      super(url);
      instances.push(this);
    }
  }
  return { Socket, instances, last: () => instances.at(-1)! };
}

export const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `test()` is truthy (short timers, bounded). */
export async function until(test: () => unknown, timeout = 2000): Promise<void> {
  const end = Date.now() + timeout;
  while (!test()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await tick(2);
  }
}

/** `promise.then(resolved, reason)`: the rejection reason, typed loosely; a promise that resolves fails the test. */
export const resolved = (): never => {
  throw new Error('expected a rejection');
};
export const reason = (error: any): any => error;
