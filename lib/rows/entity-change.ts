import type { BindingDefinition } from '../registry/binding-definition.js';

export type Row = Record<string, unknown>;
export type ChangeKind = 'created' | 'updated' | 'deleted';

/** One committed change of one row of a bound entity, with every column before and after. */
export interface EntityChange {
  binding: BindingDefinition;
  kind: ChangeKind;
  id: string | number;
  before?: Row;
  after?: Row;
  /** Exposed properties whose value changed (updates only). */
  changes?: string[];
}
