import { Injectable, Logger } from '@nestjs/common';
import { BindingError } from '../protocol/binding-error.js';
import { hookMessage } from '../protocol/hook-message.js';
import type { BindingDefinition } from '../registry/binding-definition.js';
import type { Row } from './entity-change.js';

/**
 * Turns a row into what leaves the server: exposed columns only (excluded ones never),
 * then the binding's `serialize` hook. It does not depend on the user, so a push is
 * serialized once and the same bytes go to every socket.
 */
@Injectable()
export class RowSerializer {
  private readonly logger = new Logger('BindingsModule');

  serialize(binding: BindingDefinition, row: Row, included?: ReadonlyMap<string, unknown>): Row {
    const out: Row = {};
    for (const column of binding.exposed) out[column.propertyName] = row[column.propertyName] ?? null;
    if (included) for (const [name, value] of included) out[name] = value;
    if (!binding.options.serialize) return out;
    try {
      return binding.options.serialize(out);
    } catch (error) {
      // Fails closed: the reply (or the push) that would carry this row is not sent at all.
      this.logger.error(`The serialize hook of ${binding.stream} threw on row ${String(row[binding.primary.propertyName])}: ${hookMessage(error)}`);
      throw new BindingError('internal', 'Internal error');
    }
  }
}
