import { Inject, Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { BindingError } from '../protocol/binding-error.js';

/**
 * Runs the module's `authenticate(req)` on a WebSocket upgrade or an HTTP request, and
 * refuses callers without a user when `anonymous` is false.
 */
@Injectable()
export class Authenticator {
  constructor(@Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions) {}

  async authenticate(req: IncomingMessage): Promise<unknown> {
    let user: unknown;
    try {
      user = (await this.options.authenticate(req)) ?? null;
    } catch {
      throw new BindingError('unauthorized', 'Authentication failed');
    }
    if (user === null && !this.options.anonymous) throw new BindingError('unauthorized', 'Authentication required');
    return user;
  }
}
