import { SetMetadata } from '@nestjs/common';
import { BINDING_ACTION_METADATA, BINDING_HANDLER_METADATA, ON_STREAM_METADATA } from '../bindings.constants.js';

/** Marks a provider whose `@BindingAction` methods extend the binding of `entity`. */
export const BindingHandler = (entity: Function): ClassDecorator => SetMetadata(BINDING_HANDLER_METADATA, entity);

/** Serves `<app>.<Model>.<name>` with this method, called as `(data, ctx)`. */
export const BindingAction = (name: string): MethodDecorator => SetMetadata(BINDING_ACTION_METADATA, name);

/** Serves the event `name` (any name) with this method, called as `(data, ctx)`. */
export const OnStream = (name: string): MethodDecorator => SetMetadata(ON_STREAM_METADATA, name);
