import { Inject, Injectable } from '@nestjs/common';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError } from './binding-error.js';
import { isPlainObject } from './plain-object.js';

/** A request frame after parsing: the event, its correlation id and its data. */
export interface RequestFrame {
  event: string;
  id?: string | number;
  data: unknown;
}

/** Event name used in the reply to a frame whose own event could not be read. */
export const UNREADABLE_EVENT = 'error';
const MAX_EVENT_LENGTH = 200;

/**
 * Reads and writes frames with the configured member names (`event`/`id`/`data` by
 * default, `type`/`id`/`data` or `stream`/`payload` by configuration). Replies are built
 * as strings around the already serialized data, so nothing is stringified twice.
 */
@Injectable()
export class FrameCodec {
  private readonly eventKey: string;
  private readonly idKey: string;
  private readonly dataKey: string;
  private readonly eventPrefix: string;

  constructor(@Inject(BINDINGS_OPTIONS) options: ResolvedOptions) {
    ({ event: this.eventKey, id: this.idKey, data: this.dataKey } = options.keys);
    this.eventPrefix = `{${JSON.stringify(this.eventKey)}:`;
  }

  /**
   * Parses one text frame. A frame that cannot be served throws a BindingError carrying
   * whatever event and id could be read, so the reply still correlates.
   */
  parse(text: string): RequestFrame {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      throw new FrameError(BindingError.badRequest('The frame is not valid JSON'));
    }
    if (!isPlainObject(message)) throw new FrameError(BindingError.badRequest('A frame must be a JSON object'));
    const id = message[this.idKey];
    const validId = (typeof id === 'string' && id.length <= MAX_EVENT_LENGTH) || (typeof id === 'number' && Number.isFinite(id)) ? id : undefined;
    if (id !== undefined && validId === undefined) {
      throw new FrameError(BindingError.badRequest(`"${this.idKey}" must be a string or a number`), readableEvent(message[this.eventKey]));
    }
    const event = message[this.eventKey];
    if (typeof event !== 'string' || event.length === 0 || event.length > MAX_EVENT_LENGTH) {
      throw new FrameError(
        BindingError.badRequest(`"${this.eventKey}" must be a non-empty string of at most ${MAX_EVENT_LENGTH} characters`),
        undefined,
        validId,
      );
    }
    return { event, id: validId, data: message[this.dataKey] };
  }

  /** A success reply. */
  reply(event: string, id: string | number | undefined, data: unknown): string {
    const json = JSON.stringify(data === undefined ? null : data);
    return `${this.eventPrefix}${JSON.stringify(event)}${this.idMember(id)},${JSON.stringify(this.dataKey)}:${json}}`;
  }

  /** An error reply. */
  error(event: string, id: string | number | undefined, error: BindingError): string {
    return `${this.eventPrefix}${JSON.stringify(event)}${this.idMember(id)},"error":${JSON.stringify(error)}}`;
  }

  /** A server-initiated message (no id), such as a broadcast. */
  message(event: string, data: unknown, room?: string): string {
    return `${this.eventPrefix}${JSON.stringify(event)}${room === undefined ? '' : `,"room":${JSON.stringify(room)}`},${JSON.stringify(this.dataKey)}:${JSON.stringify(data ?? null)}}`;
  }

  /** The opening of a push frame, up to and including its event. */
  pushHead(event: string): string {
    return `${this.eventPrefix}${JSON.stringify(event)}`;
  }

  /** The data member of a push around already serialized JSON. */
  dataMember(json: string): string {
    return `${JSON.stringify(this.dataKey)}:${json}`;
  }

  private idMember(id: string | number | undefined): string {
    return id === undefined ? '' : `,${JSON.stringify(this.idKey)}:${JSON.stringify(id)}`;
  }
}

/** A frame that could not be parsed, with what could be read of it for the reply. */
export class FrameError extends Error {
  constructor(
    readonly error: BindingError,
    readonly event: string = UNREADABLE_EVENT,
    readonly id?: string | number,
  ) {
    super(error.message);
  }
}

function readableEvent(event: unknown): string | undefined {
  return typeof event === 'string' && event.length > 0 && event.length <= MAX_EVENT_LENGTH ? event : undefined;
}
