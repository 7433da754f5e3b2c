import { Injectable } from '@nestjs/common';
import type { BindingDefinition } from '../registry/binding-definition.js';

export type Row = Record<string, unknown>;

/**
 * Turns a row into what leaves the server: exposed columns only (excluded ones never),
 * then the binding's `serialize` hook. It does not depend on the user, so a push is
 * serialized once and the same bytes go to every socket.
 */
@Injectable()
export class RowSerializer {
  serialize(binding: BindingDefinition, row: Row, included?: ReadonlyMap<string, unknown>): Row {
    const out: Row = {};
    for (const column of binding.exposed) out[column.propertyName] = row[column.propertyName] ?? null;
    if (included) for (const [name, value] of included) out[name] = value;
    return binding.options.serialize ? binding.options.serialize(out) : out;
  }
}
