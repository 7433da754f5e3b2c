import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  BINDING_ACTION_DTO_METADATA,
  BINDING_ACTION_METADATA,
  BINDING_HANDLER_METADATA,
  BINDING_METADATA,
  ON_STREAM_METADATA,
  STREAM_SUBSCRIBER_METADATA,
} from '../bindings.constants.js';
import type { BindingOptions } from '../interfaces/binding-options.interface.js';

/** The one place that reads the metadata our decorators record. */
@Injectable()
export class BindingsMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  bindingOptions(target: Function): BindingOptions | undefined {
    return this.reflector.get(BINDING_METADATA, target);
  }

  handlerEntity(target: Function): Function | undefined {
    return this.reflector.get(BINDING_HANDLER_METADATA, target);
  }

  actionName(method: Function): string | undefined {
    return this.reflector.get(BINDING_ACTION_METADATA, method);
  }

  actionDto(method: Function): (new () => object) | undefined {
    return this.reflector.get(BINDING_ACTION_DTO_METADATA, method);
  }

  streamName(method: Function): string | undefined {
    return this.reflector.get(ON_STREAM_METADATA, method);
  }

  /** Whether a stream handler of the library itself gets the socket's subscription state, not only the public context. */
  takesSubscriber(method: Function): boolean {
    return this.reflector.get(STREAM_SUBSCRIBER_METADATA, method) === true;
  }
}
