import type { ServerResponse } from 'node:http';
import { Subscriber } from '../../rooms/subscriber.js';

/** The headers of an event stream; `x-accel-buffering: no` keeps nginx from holding events back. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

/** A line of an SSE field may not contain a line break. */
const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ');

// A push frame is one string shared by every member of its room: the last one is parsed once.
let cachedFrame: string | undefined;
let cachedKey = '';
let cachedEvent = '';

/**
 * A push frame (`{"event":…,"room":…,"seq":18,…}`) as one SSE event: `id` is its seq,
 * `event` its event name, `data` the frame itself (JSON never contains a raw line break).
 */
export function sseEvent(frame: string, eventKey: string): string {
  if (frame !== cachedFrame || eventKey !== cachedKey) {
    let event = 'message';
    let id = '';
    try {
      const parsed = JSON.parse(frame) as Record<string, unknown>;
      if (typeof parsed[eventKey] === 'string') event = oneLine(parsed[eventKey] as string);
      if (typeof parsed.seq === 'number') id = `id: ${parsed.seq}\n`;
    } catch {
      // frames are built by the server as JSON; nothing else reaches a subscriber
    }
    cachedFrame = frame;
    cachedKey = eventKey;
    cachedEvent = `${id}event: ${event}\ndata: `;
  }
  return `${cachedEvent}${frame}\n\n`;
}

/**
 * One Server-Sent Events response as a room subscriber: the rooms treat it exactly as a
 * WebSocket (per-subscriber `scope`/`can.retrieve` checks, one push per change). What
 * arrives before the response has started (the replay of `Last-Event-ID`) waits in order.
 * A client that does not read is dropped once `sendBuffer` bytes wait, as a WebSocket is.
 */
export class SseStream extends Subscriber {
  private started = false;
  private early: string[] = [];
  private ended = false;
  private joinedSeq = 0;

  constructor(
    user: unknown,
    private readonly res: ServerResponse,
    private readonly eventKey: string,
    private readonly sendBuffer: number,
  ) {
    super(user);
  }

  get closed(): boolean {
    return this.ended || this.res.destroyed;
  }

  send(frame: string): void {
    this.write(sseEvent(frame, this.eventKey));
  }

  /** An id-only block: the browser's `lastEventId` becomes the room's seq at joining, so a reconnect before the first push resumes from there. */
  joined(room: string, seq: number): void {
    this.joinedSeq = seq;
    this.write(`: ${oneLine(room)}\nid: ${seq}\n\n`);
  }

  /** The `Last-Event-ID` could not be resumed from: the client must refetch, and resumes from the room's seq at joining. */
  resync(room: string): void {
    this.write(`id: ${this.joinedSeq}\nevent: resync\ndata: ${JSON.stringify({ room, recovered: false })}\n\n`);
  }

  heartbeat(): void {
    if (this.started) this.write(': heartbeat\n\n');
  }

  /** Sends the headers, then what waited. */
  start(): void {
    if (this.closed || this.started) return;
    this.res.writeHead(200, SSE_HEADERS);
    this.res.flushHeaders?.();
    this.started = true;
    const early = this.early;
    this.early = [];
    for (const chunk of early) this.write(chunk);
  }

  /** Ends the response (module shutdown). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.started) this.res.end();
    else this.res.destroy();
  }

  /** Writes one block as it is (subclasses that send other events). */
  protected emit(chunk: string): void {
    this.write(chunk);
  }

  private write(chunk: string): void {
    if (this.closed) return;
    if (!this.started) {
      this.early.push(chunk);
      return;
    }
    // A client that stops reading would make the buffer grow without end: drop it instead.
    if (this.res.writableLength > this.sendBuffer) {
      this.ended = true;
      this.res.destroy();
      return;
    }
    this.res.write(chunk);
    // A compression middleware buffers until told to flush.
    (this.res as { flush?: () => void }).flush?.();
  }
}

/**
 * A live list (PROTOCOL.md section 9) as Server-Sent Events: the page once, as event `page`,
 * then each frame of the list as event `changed`, every one with `id: <seq>`.
 */
export class LiveSseStream extends SseStream {
  /** The reply of the live request: its page and seq. */
  page(reply: { seq: number }): void {
    this.emit(`id: ${reply.seq}\nevent: page\ndata: ${JSON.stringify(reply)}\n\n`);
  }

  override send(frame: string): void {
    // The frame is built by the live lists: `"seq":N` follows the event and the room, neither of which holds a quote unescaped.
    const seq = /"seq":(\d+)/.exec(frame)?.[1];
    this.emit(`${seq === undefined ? '' : `id: ${seq}\n`}event: changed\ndata: ${frame}\n\n`);
    // A frame without seq ends the list (its error says why): the stream has nothing more to carry.
    if (seq === undefined) this.end();
  }
}
