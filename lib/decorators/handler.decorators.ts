import { applyDecorators, SetMetadata, type Type } from '@nestjs/common';
import { BINDING_ACTION_DTO_METADATA, BINDING_ACTION_METADATA, BINDING_HANDLER_METADATA, ON_STREAM_METADATA } from '../bindings.constants.js';

/** Marks a provider whose `@BindingAction` methods extend the binding of `entity`. */
export const BindingHandler = (entity: Function): ClassDecorator => SetMetadata(BINDING_HANDLER_METADATA, entity);

/**
 * Serves `<app>.<Model>.<name>` with this method, called as `(data, ctx)`. With `dto`, the
 * data must be an object that passes the class-validator rules of that class (unknown
 * properties refused), answered `bad_request` with one `details` entry per problem as for
 * CRUD writes; the method then gets an instance of `dto`.
 */
export const BindingAction = (name: string, options: { dto?: Type<object> } = {}): MethodDecorator =>
  options.dto
    ? applyDecorators(SetMetadata(BINDING_ACTION_METADATA, name), SetMetadata(BINDING_ACTION_DTO_METADATA, options.dto))
    : SetMetadata(BINDING_ACTION_METADATA, name);

/** Serves the event `name` (any name) with this method, called as `(data, ctx)`. */
export const OnStream = (name: string): MethodDecorator => SetMetadata(ON_STREAM_METADATA, name);
