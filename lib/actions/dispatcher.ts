import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { AccessPolicy } from '../auth/access-policy.js';
import { DuplicateEventException } from '../exceptions/duplicate-event.exception.js';
import { MissingBindingHandlerException } from '../exceptions/missing-binding-handler.exception.js';
import { UnboundHandlerException } from '../exceptions/unbound-handler.exception.js';
import { BindingError } from '../protocol/binding-error.js';
import { toBindingError } from '../protocol/to-binding-error.js';
import { BindingRegistry } from '../registry/binding.registry.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import { BindingsMetadataAccessor } from '../registry/metadata.accessor.js';
import type { ActionContext } from '../rooms/action-context.js';
import { CrudActions } from './crud.actions.js';
import { WriteValidator } from './write-validator.js';

type Handler = (data: unknown, ctx: ActionContext) => unknown;

/**
 * The one path every request takes, whatever its transport: find the handler of the
 * event, run it (the handlers authorize, validate, execute and serialize), and turn
 * whatever it threw into an error value. Transports only parse and reply.
 */
@Injectable()
export class Dispatcher implements OnModuleInit {
  private readonly logger = new Logger('BindingsModule');
  private readonly handlers = new Map<string, { handler: Handler; binding?: BindingDefinition }>();

  constructor(
    private readonly registry: BindingRegistry,
    private readonly crud: CrudActions,
    private readonly policy: AccessPolicy,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: BindingsMetadataAccessor,
    private readonly validator: WriteValidator,
  ) {}

  onModuleInit(): void {
    this.register('ping', (data) => data ?? null);
    for (const binding of this.registry.all()) {
      for (const action of binding.actions) this.register(`${binding.stream}.${action}`, this.crud.handler(binding, action), binding);
    }
    this.exploreHandlers();
  }

  /** Every served event, with the binding it belongs to when it is a binding's action (for the OpenAPI document). */
  events(): Array<{ event: string; binding?: BindingDefinition }> {
    return [...this.handlers].map(([event, { binding }]) => ({ event, binding }));
  }

  /** Whether an event is served (used by REST to tell 404 from 405-like cases). */
  has(event: string): boolean {
    return this.handlers.has(event);
  }

  /** Serves one request: resolves with the reply data or rejects with a BindingError. */
  async dispatch(event: string, data: unknown, ctx: ActionContext): Promise<unknown> {
    const entry = this.handlers.get(event);
    if (!entry) throw new BindingError('unknown_event', `Unknown event "${event}"`);
    try {
      return await entry.handler(data, ctx);
    } catch (thrown) {
      const { error, unexpected } = toBindingError(thrown, entry.binding?.metadata);
      if (unexpected) this.logger.error(`${event} failed: ${(thrown as Error)?.stack ?? thrown}`);
      throw error;
    }
  }

  private register(event: string, handler: Handler, binding?: BindingDefinition): void {
    if (this.handlers.has(event)) {
      throw new DuplicateEventException(event);
    }
    this.handlers.set(event, { handler, binding });
  }

  /** Finds @BindingHandler/@BindingAction and @OnStream methods in every provider. */
  private exploreHandlers(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance;
      if (!instance || typeof instance !== 'object') continue;
      // Factory and value providers have no class as metatype: the instance's constructor is reliable.
      const type = instance.constructor ?? wrapper.metatype;
      const entity = type ? this.accessor.handlerEntity(type) : undefined;
      const binding = entity ? this.registry.forTarget(entity) : undefined;
      if (entity && !binding) {
        throw new UnboundHandlerException(entity.name, type.name, this.accessor.bindingOptions(entity) !== undefined);
      }
      const prototype = Object.getPrototypeOf(instance);
      for (const methodName of this.scanner.getAllMethodNames(prototype)) {
        const method = prototype[methodName];
        const action = this.accessor.actionName(method);
        if (action) {
          if (!binding) throw new MissingBindingHandlerException(action, `${type.name}.${methodName}`);
          const call = method.bind(instance);
          const dto = this.accessor.actionDto(method);
          this.register(
            `${binding.stream}.${action}`,
            async (data, ctx) => {
              await this.policy.authorize(binding, action, ctx.user, data);
              return call(dto ? await this.validator.checkDto(dto, data) : data, publicContext(ctx));
            },
            binding,
          );
        }
        const stream = this.accessor.streamName(method);
        if (stream) {
          const call = method.bind(instance);
          // The library's own handlers (channels) need the socket's subscriptions; the application's get the public context.
          const internal = this.accessor.takesSubscriber(method);
          this.register(stream, (data, ctx) => call(data, internal ? ctx : publicContext(ctx)));
        }
      }
    }
  }
}

/** Handlers get `user`, `socket` and `id`, not the internal subscription state. */
function publicContext(ctx: ActionContext) {
  return { user: ctx.user, socket: ctx.socket, id: ctx.id, transport: ctx.transport };
}
