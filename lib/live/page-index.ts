import type { EntityChange } from '../rows/entity-change.js';
import { indexValue } from '../rooms/room-scopes.js';
import type { KeptPage } from './kept-page.js';

/**
 * The kept pages a change of one stream may touch. A page whose scope requires
 * `field = value` (the usual tenant scope, see room-scopes) is found by the row's value,
 * so a change is matched against the pages of its own tenant only, not against every
 * tenant's; the other pages (no such scope, or pages that include this stream) are tried
 * one by one.
 */
export class StreamPages {
  private readonly rest = new Set<KeptPage>();
  private readonly byValue = new Map<string, Map<unknown, Set<KeptPage>>>();
  size = 0;

  add(page: KeptPage, indexed: boolean): void {
    this.size++;
    const requires = indexed ? page.spec.requires : undefined;
    if (!requires) return void this.rest.add(page);
    let values = this.byValue.get(requires.field);
    if (!values) this.byValue.set(requires.field, (values = new Map()));
    let set = values.get(requires.value);
    if (!set) values.set(requires.value, (set = new Set()));
    set.add(page);
  }

  delete(page: KeptPage, indexed: boolean): void {
    this.size--;
    const requires = indexed ? page.spec.requires : undefined;
    if (!requires) return void this.rest.delete(page);
    const values = this.byValue.get(requires.field)!;
    const set = values.get(requires.value)!;
    set.delete(page);
    if (set.size === 0) values.delete(requires.value);
    if (values.size === 0) this.byValue.delete(requires.field);
  }

  /** Adds to `out` the pages `change` may touch. */
  collect(change: EntityChange, out: Set<KeptPage>): void {
    for (const page of this.rest) out.add(page);
    for (const [field, values] of this.byValue) {
      const kind = change.binding.allFields.get(field)?.kind;
      for (const row of [change.before, change.after]) {
        if (!row) continue;
        const value = indexValue(kind, row[field]);
        for (const page of (value === undefined ? undefined : values.get(value)) ?? []) out.add(page);
      }
    }
  }
}
