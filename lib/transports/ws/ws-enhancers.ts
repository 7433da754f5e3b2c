import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import { ExternalContextCreator } from '@nestjs/core/helpers/external-context-creator.js';
import type { WebSocket } from 'ws';
import type { ActionContext } from '../../rooms/action-context.js';
import { Dispatcher } from '../../actions/dispatcher.js';
import { toBindingError } from '../../protocol/to-binding-error.js';

// Arguments as Nest's ws context reads them: client first, data second, pattern (event) last.
type Run = (socket: WebSocket | undefined, data: unknown, ctx: ActionContext, event: string) => Promise<unknown>;

/**
 * The application's global guards and interceptors, applied to WebSocket requests as Nest
 * applies them to a gateway: the context type is `ws`, `switchToWs().getClient()` is the
 * socket, `getData()` the frame's data and `getPattern()` its event. (REST requests get
 * them from Nest itself: the routes are a real controller.) Without any, frames go
 * straight to the dispatcher and pay nothing for this.
 */
@Injectable()
export class WsEnhancers implements OnApplicationBootstrap {
  private enhanced?: Run;

  constructor(
    private readonly contextCreator: ExternalContextCreator,
    private readonly config: ApplicationConfig,
    private readonly dispatcher: Dispatcher,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.getGlobalGuards().length === 0 && this.config.getGlobalInterceptors().length === 0) return;
    this.enhanced = this.contextCreator.create(
      this,
      this.handle as (...args: unknown[]) => unknown,
      'handle',
      undefined,
      undefined,
      undefined,
      undefined,
      { guards: true, interceptors: true, filters: false },
      'ws',
    ) as Run;
  }

  /** Serves one WebSocket request; rejects with a BindingError (a guard's refusal is `forbidden`). */
  run(event: string, data: unknown, ctx: ActionContext): Promise<unknown> {
    if (!this.enhanced) return this.dispatcher.dispatch(event, data, ctx);
    return this.enhanced(ctx.socket, data, ctx, event).catch((error) => {
      throw toBindingError(error).error;
    });
  }

  /** The handler the guards and interceptors wrap. */
  handle(_socket: WebSocket | undefined, data: unknown, ctx: ActionContext, event: string): Promise<unknown> {
    return this.dispatcher.dispatch(event, data, ctx);
  }
}
