/** The error codes a server sends (PROTOCOL.md section 2), plus the client's own two. */
export type ClientErrorCode =
  | 'bad_request'
  | 'unknown_event'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'rate_limited'
  | 'internal'
  /** No reply within the request's `timeout`. */
  | 'timeout'
  /** The connection was lost (or closed) before the request could be answered, or it could not be queued. */
  | 'disconnected';

/** One entry of `details`: which field broke which rule. */
export interface ErrorDetail {
  field?: string;
  constraint?: string;
  message: string;
}

/**
 * The rejection of every client promise: the server's error reply (`code`, `message`,
 * `details`), or a `timeout` / `disconnected` raised by the client itself.
 */
export class BindingClientError extends Error {
  readonly code: ClientErrorCode;
  readonly details?: ErrorDetail[];

  constructor(code: ClientErrorCode, message: string, details?: ErrorDetail[]) {
    super(message);
    this.name = 'BindingClientError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }

  /** The error member of a reply frame as an error; anything malformed becomes `internal`. */
  static fromReply(error: unknown): BindingClientError {
    const { code, message, details } = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
    return new BindingClientError(
      (typeof code === 'string' ? code : 'internal') as ClientErrorCode,
      typeof message === 'string' ? message : 'The server answered with an error',
      Array.isArray(details) ? (details as ErrorDetail[]) : undefined,
    );
  }
}
