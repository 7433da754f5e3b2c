import { Inject, Injectable, Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError } from '../protocol/binding-error.js';
import { hookMessage } from '../protocol/hook-message.js';

/**
 * `authenticate` itself threw or rejected: REST answers 401 as for a refused user, but a
 * WebSocket upgrade is refused with 500 (PROTOCOL.md section 6), since no user was refused.
 */
export class AuthenticateFailed extends BindingError {
  constructor() {
    super('unauthorized', 'Authentication failed');
  }
}

/**
 * Runs the module's `authenticate(req)` on a WebSocket upgrade or an HTTP request, and
 * refuses callers without a user when `anonymous` is false. A hook that throws
 * `BindingError('unauthorized', reason)` refuses the caller with that reason (401, on an
 * upgrade too); any other throw is a failure of the hook (AuthenticateFailed).
 */
@Injectable()
export class Authenticator {
  private readonly logger = new Logger('BindingsModule');

  constructor(@Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions) {}

  async authenticate(req: IncomingMessage): Promise<unknown> {
    let user: unknown;
    try {
      user = (await this.options.authenticate(req)) ?? null;
    } catch (error) {
      // A deliberate refusal with a reason (the standalone server's token check): 401 with that message.
      if (error instanceof BindingError && error.code === 'unauthorized') throw new BindingError('unauthorized', error.message);
      this.logger.error(`The authenticate hook threw: ${hookMessage(error)}`);
      throw new AuthenticateFailed();
    }
    if (user === null && !this.options.anonymous) throw new BindingError('unauthorized', 'Authentication required');
    return user;
  }
}
