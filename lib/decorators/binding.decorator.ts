import { SetMetadata } from '@nestjs/common';
import { BINDING_METADATA } from '../bindings.constants.js';
import type { BindingOptions } from '../interfaces/binding-options.interface.js';
import { declaredBindings } from '../registry/declared-bindings.js';

/**
 * Serves a TypeORM entity as `<app>.<Model>` over WebSocket and REST.
 * The entity must also be registered with TypeORM; nothing else needs registering.
 */
export const Binding =
  <T = any>(options: BindingOptions<T> = {}): ClassDecorator =>
  (target) => {
    declaredBindings.add(target);
    SetMetadata(BINDING_METADATA, options)(target);
  };
