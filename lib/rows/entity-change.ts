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
  /**
   * Only excluded columns changed: no push (it would reveal them), but the live lists see it,
   * since such a column (a tenant) may take the row out of a scope or into one.
   */
  hidden?: boolean;
  /**
   * `performance.now()` when the change was captured, before its commit: a read that ended
   * earlier cannot have seen it (live lists use this to know when a kept page may be updated in memory).
   */
  recordedAt?: number;
  /** The id of the change in pushes (section 4), given once by the rooms; the same on every instance. */
  changeId?: string;
}
