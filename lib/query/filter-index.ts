import type { FieldInfo, FieldMap, FilterNode } from './filter.types.js';
import { normalizeValue } from './match-filter.js';

type Row = Record<string, unknown>;

/**
 * A `field = value` (or `field in [...]`) that a whole filter requires: the filter itself,
 * or a member of its top-level `and`. A row can only match the filter when its value of
 * `field`, normalized as the matcher reads it, is one of `values`.
 */
export interface EqualityKey {
  field: string;
  kind: FieldInfo['kind'];
  /** Normalized as `compileMatcher` compares them (match-filter.ts). */
  values: unknown[];
}

/**
 * The condition to index a filter by: of the `eq` (not `eq null`, which tests the raw value)
 * and `in` conditions the whole filter requires, the one with the fewest values. Undefined
 * when it has none (an `or`, ranges, patterns): such a filter is tried on every change.
 */
export function equalityKey(node: FilterNode | undefined, fields: FieldMap): EqualityKey | undefined {
  const members = !node ? [] : node.kind === 'and' ? node.nodes : [node];
  let best: EqualityKey | undefined;
  for (const n of members) {
    if (n.kind !== 'cmp') continue;
    const info = fields.get(n.field);
    if (!info) continue;
    let values: unknown[];
    if (n.op === 'eq' && n.value !== null) values = [n.value];
    else if (n.op === 'in' && Array.isArray(n.value)) values = n.value;
    else continue;
    const key = { field: n.field, kind: info.kind, values: [...new Set(values.map((v) => normalizeValue(info.kind, v)))] };
    if (!best || key.values.length < best.values.length) best = key;
  }
  return best;
}

/** Something kept in a {@link FilterIndex}: its `keys` (from {@link equalityKey}) never change once added. */
export interface Indexed {
  keys?: EqualityKey;
  matches?: (row: Row) => boolean;
}

/**
 * Filters (filter rooms) of one model, found by row. Those with an {@link EqualityKey} are
 * looked up by the row's value of their field, so a change costs one lookup per indexed
 * field plus a try of each unindexed filter, not one match per filter. `candidates` is a
 * superset of the filters a row can match (each still has to be confirmed by its matcher),
 * in the order they were added, as iterating the whole index gives them.
 */
export class FilterIndex<T extends Indexed> implements Iterable<T> {
  /** Every entry, by its order of addition. */
  private readonly order = new Map<T, number>();
  private added = 0;
  /** Field, then normalized value, then the entries wanting it. */
  private readonly indexed = new Map<string, { kind: FieldInfo['kind']; byValue: Map<unknown, Set<T>> }>();
  private readonly rest = new Set<T>();

  get size(): number {
    return this.order.size;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.order.keys();
  }

  has(entry: T): boolean {
    return this.order.has(entry);
  }

  add(entry: T): void {
    if (this.order.has(entry)) return;
    this.order.set(entry, this.added++);
    const keys = entry.keys;
    if (!keys) return void this.rest.add(entry);
    // `in []` matches no row: it is never a candidate.
    if (keys.values.length === 0) return;
    let field = this.indexed.get(keys.field);
    if (!field) this.indexed.set(keys.field, (field = { kind: keys.kind, byValue: new Map() }));
    for (const value of keys.values) {
      let set = field.byValue.get(value);
      if (!set) field.byValue.set(value, (set = new Set()));
      set.add(entry);
    }
  }

  delete(entry: T): boolean {
    if (!this.order.delete(entry)) return false;
    const keys = entry.keys;
    if (!keys) return this.rest.delete(entry);
    if (keys.values.length === 0) return true;
    const field = this.indexed.get(keys.field)!;
    for (const value of keys.values) {
      const set = field.byValue.get(value);
      set?.delete(entry);
      if (set?.size === 0) field.byValue.delete(value);
    }
    if (field.byValue.size === 0) this.indexed.delete(keys.field);
    return true;
  }

  /** The entries that may match one of `rows` (undefined rows are skipped), in order of addition. */
  candidates(...rows: Array<Row | undefined>): T[] {
    const found = new Set<T>();
    for (const row of rows) {
      if (!row) continue;
      for (const [name, field] of this.indexed) {
        const set = field.byValue.get(normalizeValue(field.kind, row[name]));
        if (set) for (const entry of set) found.add(entry);
      }
    }
    if (found.size === 0) return [...this.rest];
    const indexed = [...found].sort((a, b) => this.order.get(a)! - this.order.get(b)!);
    if (this.rest.size === 0) return indexed;
    // Both runs are in order of addition: merge them.
    const merged: T[] = [];
    let i = 0;
    for (const entry of this.rest) {
      const at = this.order.get(entry)!;
      while (i < indexed.length && this.order.get(indexed[i])! < at) merged.push(indexed[i++]);
      merged.push(entry);
    }
    while (i < indexed.length) merged.push(indexed[i++]);
    return merged;
  }
}
