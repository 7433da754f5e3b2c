/** The error codes of the wire protocol (PROTOCOL.md section 2). */
export type ErrorCode = 'bad_request' | 'unknown_event' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'too_large' | 'rate_limited' | 'internal';

/** One entry of `error.details`: which field broke which rule. */
export interface ErrorDetail {
  field?: string;
  constraint?: string;
  message: string;
}

/** The HTTP status of each code, used once by the REST transport. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  unknown_event: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  internal: 500,
};

/**
 * An error as a value: a code, a message meant for the client, optional details.
 * Anything thrown inside an action that is not a BindingError becomes `internal`
 * with a generic message, so no stack trace, SQL text or driver error reaches a client.
 */
export class BindingError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.name = 'BindingError';
  }

  /** The `error` member of a reply frame or of a REST error body. */
  toJSON(): { code: ErrorCode; message: string; details?: ErrorDetail[] } {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }

  static badRequest(message: string, details?: ErrorDetail[]): BindingError {
    return new BindingError('bad_request', message, details);
  }
}
