import { SetMetadata } from '@nestjs/common';
import { BINDING_METADATA } from '../bindings.constants.js';
import type { BindingOptions } from '../interfaces/binding-options.interface.js';

/**
 * Serves a TypeORM entity as `<app>.<Model>` over WebSocket and REST.
 * The entity must also be registered with TypeORM; nothing else needs registering.
 */
export const Binding = <T = any>(options: BindingOptions<T> = {}): ClassDecorator => SetMetadata(BINDING_METADATA, options);
