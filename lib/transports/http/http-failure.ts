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
