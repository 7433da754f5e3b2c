import { changesOf } from '../../lib/changes/database/outbox-changes.js';
import type { BindingDefinition } from '../../lib/registry/binding-definition.js';

// A recorded row (before, after) as the changes the ORM capture would report for it.
const column = (propertyName: string) => ({ propertyName });
const binding = {
  primary: column('id'),
  exposed: ['id', 'title', 'rank', 'deletedAt'].map(column),
  allFields: new Map(['id', 'title', 'rank', 'secret', 'deletedAt', 'updated'].map((name) => [name, column(name)])),
  deleteDateColumn: column('deletedAt'),
} as unknown as BindingDefinition;
const row = (fields: Record<string, unknown> = {}) => ({ id: 1, title: 'a', rank: 0, secret: 's', deletedAt: null, ...fields });
const kinds = (before?: Record<string, unknown>, after?: Record<string, unknown>) =>
  changesOf(binding, before, after).map((c) => [c.kind, c.id, c.changes ?? null]);

describe('changesOf', () => {
  it('an insert is created, a delete is deleted with the last state', () => {
    expect(kinds(undefined, row())).toEqual([['created', 1, null]]);
    const [deleted] = changesOf(binding, row({ rank: 3 }), undefined);
    expect(deleted).toMatchObject({ kind: 'deleted', id: 1, before: { rank: 3 } });
  });

  it('an update names the exposed properties that changed, dates compared by time', () => {
    expect(kinds(row(), row({ rank: 2, title: 'b' }))).toEqual([['updated', 1, ['title', 'rank']]]);
    const at = (iso: string) => ({ updated: new Date(iso) });
    expect(
      changesOf(
        { ...binding, exposed: [column('id'), column('updated')] } as unknown as BindingDefinition,
        row(at('2026-01-01T00:00:00Z')),
        row(at('2026-01-01T00:00:00Z')),
      ),
    ).toEqual([]);
  });

  it('an update of excluded columns only is hidden (live lists only, no push); of nothing, nothing', () => {
    expect(changesOf(binding, row(), row({ secret: 'other' }))).toMatchObject([{ kind: 'updated', id: 1, changes: [], hidden: true }]);
    expect(kinds(row(), row())).toEqual([]);
  });

  it('a soft delete is deleted, a restore created, a write of a soft-deleted row nothing', () => {
    const gone = { deletedAt: new Date('2026-01-01T00:00:00Z') };
    expect(kinds(row(), row(gone))).toEqual([['deleted', 1, null]]);
    expect(kinds(row(gone), row())).toEqual([['created', 1, null]]);
    expect(kinds(row(gone), row({ ...gone, rank: 5 }))).toEqual([]);
    expect(kinds(undefined, row(gone))).toEqual([]);
    expect(kinds(row(gone), undefined)).toEqual([]);
  });

  it('a primary key update is the old row deleted and the new one created', () => {
    expect(kinds(row(), row({ id: 2 }))).toEqual([
      ['deleted', 1, null],
      ['created', 2, null],
    ]);
  });
});
