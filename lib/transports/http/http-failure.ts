import { HttpException } from '@nestjs/common';
import { BindingError, HTTP_STATUS } from '../../protocol/binding-error.js';

/**
 * The HTTP form of an error: Nest's exception layer answers it with the contract's body
 * `{"error": {code, message, details?}}` and the code's status. Anything that is not a
 * BindingError becomes `internal`, without its message.
 */
export function httpFailure(error: unknown): HttpException {
  const known = error instanceof BindingError ? error : new BindingError('internal', 'Internal error');
  return new HttpException({ error: known.toJSON() }, HTTP_STATUS[known.code]);
}

/**
 * A request body sent with another content type than JSON: say what was expected instead of
 * answering as if no field had been sent (Express leaves such a body unread; Fastify refuses
 * a type it has no parser for).
 */
export function notJson(type: string | undefined): BindingError {
  return BindingError.badRequest(`The body must be JSON, sent with Content-Type: application/json (got ${type ? type.split(';')[0] : 'no content type'})`, [
    { field: 'content-type', constraint: 'json', message: 'expected application/json' },
  ]);
}
