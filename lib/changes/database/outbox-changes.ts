import type { BindingDefinition } from '../../registry/binding-definition.js';
import type { EntityChange, Row } from '../../rows/entity-change.js';

/**
 * The changes one recorded row makes, as the ORM capture would report them: an update
 * without a change of an exposed column pushes nothing (the push itself would reveal the
 * hidden one; it is `hidden`, for live lists); with a delete-date column, soft-deleting is a delete, restoring a create, and
 * writes of soft-deleted rows push nothing; a primary key update is a delete and a create.
 */
export function changesOf(binding: BindingDefinition, before: Row | undefined, after: Row | undefined): EntityChange[] {
  const pk = binding.primary.propertyName;
  const deleteDate = binding.deleteDateColumn?.propertyName;
  const visible = (row: Row | undefined): row is Row => row !== undefined && (!deleteDate || row[deleteDate] === null || row[deleteDate] === undefined);
  const was = visible(before);
  const is = visible(after);
  const deleted = (row: Row): EntityChange => ({ binding, kind: 'deleted', id: row[pk] as string | number, before: row });
  const created = (row: Row): EntityChange => ({ binding, kind: 'created', id: row[pk] as string | number, after: row });
  if (was && is) {
    if (!equal(before[pk], after[pk])) return [deleted(before), created(after)];
    const changes = binding.exposed.map((c) => c.propertyName).filter((name) => !equal(before[name], after[name]));
    if (changes.length) return [{ binding, kind: 'updated', id: after[pk] as string | number, before, after, changes }];
    // Only excluded columns: no push, but live lists see it (see EntityChange.hidden).
    const hidden = [...binding.allFields.keys()].some((name) => !equal(before[name], after[name]));
    return hidden ? [{ binding, kind: 'updated', id: after[pk] as string | number, before, after, changes, hidden: true }] : [];
  }
  if (was) return [deleted(before)];
  if (is) return [created(after)];
  return [];
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a === null || b === null || a === undefined || b === undefined) return (a ?? null) === (b ?? null);
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (typeof a === 'object' || typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return false;
}
