import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { OnDeleteType } from 'typeorm/metadata/types/OnDeleteType.js';
import { Column, DeleteDateColumn, Entity, JoinColumn, ManyToOne, OneToMany, PrimaryColumn, PrimaryGeneratedColumn, type Relation } from 'typeorm';
import { MAX_CASCADE_DEPTH } from '../../lib/changes/cascades.js';
import { ChangeCapture } from '../../lib/changes/change-capture.js';
import { Binding } from '../../lib/index.js';
import { testDb } from '../fixtures/database.js';
import { settle, startApp, TestSocket, type TestApp } from '../fixtures/harness.js';
import { alice, as, authenticateFromHeader, bob, carol, type TestUser } from '../fixtures/tenancy-fixtures.js';

/**
 * PROTOCOL.md section 4: rows the database itself deletes or rewrites because of a TypeORM
 * relation's onDelete / onUpdate (CASCADE, SET NULL, SET DEFAULT) push like any other change,
 * through every TypeORM path, only after commit, under every per-subscriber rule.
 */

const byTenant = (user: TestUser | null) => ({ tenant: user?.tenant ?? '\u0000none' });

/** Not bound: a parent whose bound descendants must still push. */
@Entity()
class Team {
  @PrimaryGeneratedColumn() id: number;
  @Column() name: string;
}

@Binding({ app: 'kb', scope: byTenant })
@Entity()
class Board {
  @PrimaryGeneratedColumn() id: number;
  @Column() title: string;
  @Column() tenant: string;
  @Column({ type: 'int', nullable: true }) teamId: number | null;
  @ManyToOne(() => Team, { onDelete: 'CASCADE', nullable: true }) team?: Relation<Team>;
  @OneToMany(() => Card, (card) => card.board, { cascade: ['soft-remove', 'remove'] }) cards?: Relation<Card>[];
  @DeleteDateColumn({ nullable: true }) deletedAt?: Date | null;
}

/** Not bound: the middle of board -> lane -> card. */
@Entity()
class Lane {
  @PrimaryGeneratedColumn() id: number;
  @Column() name: string;
  @Column('int') boardId: number;
  @ManyToOne(() => Board, { onDelete: 'CASCADE' }) board?: Relation<Board>;
}

@Entity()
class Person {
  @PrimaryGeneratedColumn() id: number;
  @Column() name: string;
}

/** Referenced by its `code`, not its primary key. */
@Entity()
class Label {
  @PrimaryGeneratedColumn() id: number;
  @Column({ unique: true }) code: string;
}

@Binding({
  app: 'kb',
  exclude: ['secret'],
  scope: byTenant,
  can: { retrieve: (user: TestUser, card: Card) => card.title !== 'classified' || user.role === 'admin' },
  serialize: (row) => ({ ...row, summary: `card ${String(row.title)}` }),
})
@Entity()
class Card {
  @PrimaryGeneratedColumn() id: number;
  @Column() title: string;
  @Column() tenant: string;
  @Column({ type: 'varchar', nullable: true }) secret?: string | null;
  @Column('int') boardId: number;
  @ManyToOne(() => Board, (board) => board.cards, { onDelete: 'CASCADE' }) board?: Relation<Board>;
  @Column({ type: 'int', nullable: true }) laneId: number | null;
  @ManyToOne(() => Lane, { onDelete: 'CASCADE', onUpdate: 'CASCADE', nullable: true }) lane?: Relation<Lane>;
  @Column({ type: 'int', nullable: true }) ownerId: number | null;
  @ManyToOne(() => Person, { onDelete: 'SET NULL', nullable: true }) owner?: Relation<Person>;
  @Column({ default: 'none' }) labelCode: string;
  // TypeORM's typings offer 'DEFAULT', which no database accepts; the SQL action is SET DEFAULT.
  @ManyToOne(() => Label, { onDelete: 'SET DEFAULT' as OnDeleteType, onUpdate: 'CASCADE' })
  @JoinColumn({ name: 'labelCode', referencedColumnName: 'code' })
  label?: Relation<Label>;
  @DeleteDateColumn({ nullable: true }) deletedAt?: Date | null;
}

/** Self-referencing: replies of replies go with their card and their parent. */
@Binding({ app: 'kb' })
@Entity()
class Remark {
  @PrimaryGeneratedColumn() id: number;
  @Column() body: string;
  @Column('int') cardId: number;
  @ManyToOne(() => Card, { onDelete: 'CASCADE' }) card?: Relation<Card>;
  @Column({ type: 'int', nullable: true }) parentId: number | null;
  @ManyToOne(() => Remark, { onDelete: 'CASCADE', nullable: true }) parent?: Relation<Remark>;
  @Column({ type: 'int', nullable: true }) quoteId: number | null;
  @ManyToOne(() => Remark, { onDelete: 'CASCADE', nullable: true }) quote?: Relation<Remark>;
}

/** Bound, with its foreign key excluded: a SET NULL changes nothing a client sees. */
@Binding({ app: 'kb', exclude: ['holderId'] })
@Entity()
class Badge {
  @PrimaryGeneratedColumn() id: number;
  @Column() name: string;
  @Column({ type: 'int', nullable: true }) holderId: number | null;
  @ManyToOne(() => Person, { onDelete: 'SET NULL', nullable: true }) holder?: Relation<Person>;
}

/** Not bound, with a composite primary key that a bound entity references. */
@Entity()
class Release {
  @PrimaryColumn('int') teamId: number;
  @PrimaryColumn() tag: string;
  @ManyToOne(() => Team, { onDelete: 'CASCADE' }) @JoinColumn({ name: 'teamId' }) team?: Relation<Team>;
}

@Binding({ app: 'kb' })
@Entity()
class Milestone {
  @PrimaryGeneratedColumn() id: number;
  @Column() title: string;
  @Column({ type: 'int', nullable: true }) releaseTeamId: number | null;
  @Column({ type: 'varchar', nullable: true }) releaseTag: string | null;
  @ManyToOne(() => Release, { onDelete: 'SET NULL', nullable: true })
  @JoinColumn([
    { name: 'releaseTeamId', referencedColumnName: 'teamId' },
    { name: 'releaseTag', referencedColumnName: 'tag' },
  ])
  release?: Relation<Release>;
}

/** Unbound, and referenced by nothing bound: deleting a shelf must cost no extra query. */
@Entity()
class Shelf {
  @PrimaryGeneratedColumn() id: number;
}

@Entity()
class Book {
  @PrimaryGeneratedColumn() id: number;
  @Column('int') shelfId: number;
  @ManyToOne(() => Shelf, { onDelete: 'CASCADE' }) shelf?: Relation<Shelf>;
}

let t: TestApp;
let acme: TestSocket; // alice, admin of acme
let member: TestSocket; // carol, member of acme
let globex: TestSocket; // bob, admin of globex
const sockets = () => [acme, member, globex];
let n = 0;
/** The SQL statements the DataSource ran (a test empties it first). */
const log: string[] = [];
const statements = () => log.map((q) => q.split(/\s/)[0].toUpperCase()).filter((word) => !['BEGIN', 'COMMIT', 'START', 'SAVEPOINT', 'RELEASE'].includes(word));
const unique = (prefix: string) => `${prefix}-${++n}`;

beforeAll(async () => {
  t = await startApp([Team, Board, Lane, Person, Label, Card, Remark, Badge, Release, Milestone, Shelf, Book], {
    authenticate: authenticateFromHeader,
    anonymous: false,
  });
  await t.dataSource.getRepository(Label).save({ code: 'none' });
  acme = await TestSocket.open(t.ws, as(alice));
  member = await TestSocket.open(t.ws, as(carol));
  globex = await TestSocket.open(t.ws, as(bob));
  for (const s of sockets())
    for (const stream of ['kb.Board', 'kb.Card', 'kb.Remark', 'kb.Milestone', 'kb.Badge'])
      expect((await s.request(`${stream}.subscribe`, {})).error).toBeUndefined();
  t.dataSource.subscribers.push({ beforeQuery: (event: { query: string }) => void log.push(event.query.trim()) } as any);
});
afterAll(async () => {
  for (const s of sockets()) s.close();
  await t.close();
});
beforeEach(() => drain());

const repo = <T extends object>(target: new () => T) => t.dataSource.getRepository(target);

/** Forgets every frame received so far, once pushes that were coming have arrived. */
async function drain(): Promise<void> {
  await settle(60);
  for (const s of sockets()) s.frames.length = 0;
}

/** Waits for `count` pushes on `s`, then a little longer so that an extra push would show. */
async function pushes(s: TestSocket, count: number): Promise<any[]> {
  if (count > 0) await s.waitFor(() => s.pushes().length >= count);
  await settle(80);
  return s.pushes();
}

/** `[event, id]` of each push, sorted, to compare sets of pushes. */
const summary = (list: any[]) =>
  list.map((p) => [p.event, p.data.id]).sort((a, b) => `${a[0]}${a[1]}`.localeCompare(`${b[0]}${b[1]}`, 'en', { numeric: true }));

interface Tree {
  team: Team;
  board: Board;
  lane: Lane;
  cards: Card[];
  remarks: Remark[];
}

/** A team with one acme board, a lane, two cards on the lane (one owned by `owner`) and a remark with a reply. */
async function tree(owner?: Person): Promise<Tree> {
  const team = await repo(Team).save({ name: unique('team') });
  const board = await repo(Board).save({ title: unique('board'), tenant: 'acme', teamId: team.id });
  const lane = await repo(Lane).save({ name: unique('lane'), boardId: board.id });
  const cards = [
    await repo(Card).save({ title: unique('card'), tenant: 'acme', secret: 's3cret', boardId: board.id, laneId: lane.id, ownerId: owner?.id ?? null }),
    await repo(Card).save({ title: unique('card'), tenant: 'acme', boardId: board.id, laneId: lane.id }),
  ];
  const root = await repo(Remark).save({ body: unique('remark'), cardId: cards[0].id, parentId: null });
  const reply = await repo(Remark).save({ body: unique('reply'), cardId: cards[1].id, parentId: root.id });
  await drain();
  return { team, board, lane, cards: await repo(Card).findBy(cards.map((c) => ({ id: c.id }))), remarks: [root, reply] };
}

/** The exposed, serialized state of a card as a push carries it. */
function cardData(card: Card, changes: Partial<Card> = {}) {
  const { secret: _secret, board: _board, lane: _lane, owner: _owner, label: _label, ...row } = { ...card, ...changes };
  return { ...row, deletedAt: null, summary: `card ${row.title}` };
}

const expectedTreePushes = (x: Tree) =>
  summary([
    { event: 'kb.Board.deleted', data: { id: x.board.id } },
    ...x.cards.map((c) => ({ event: 'kb.Card.deleted', data: { id: c.id } })),
    ...x.remarks.map((r) => ({ event: 'kb.Remark.deleted', data: { id: r.id } })),
  ]);

describe('set-up', () => {
  it('the database enforces foreign keys (SQLite: PRAGMA foreign_keys is on)', async () => {
    if (testDb === 'sqlite') expect(await t.dataSource.query('PRAGMA foreign_keys')).toEqual([{ foreign_keys: 1 }]);
    const x = await tree();
    await repo(Team).delete(x.team.id);
    expect(await repo(Card).countBy(x.cards.map((c) => ({ id: c.id })))).toBe(0);
    expect(await repo(Remark).countBy(x.remarks.map((r) => ({ id: r.id })))).toBe(0);
  });
});

describe('ON DELETE CASCADE pushes deleted, with the last state, through every path', () => {
  it('repository.delete of an unbound parent: board, then lane (unbound) -> cards -> remarks and replies', async () => {
    const x = await tree();
    await repo(Team).delete(x.team.id);
    const got = await pushes(acme, 5);
    expect(summary(got)).toEqual(expectedTreePushes(x));
    const board = got.find((p) => p.event === 'kb.Board.deleted');
    expect(board).toMatchObject({ room: 'kb.Board', data: { id: x.board.id, title: x.board.title, teamId: x.team.id, deletedAt: null } });
    for (const card of x.cards) {
      const push = got.find((p) => p.event === 'kb.Card.deleted' && p.data.id === card.id);
      expect(push.data).toEqual(cardData(card));
      expect(push.changes).toBeUndefined();
    }
    expect(JSON.stringify(got)).not.toContain('s3cret');
  });

  it('manager.remove of a bound parent (TypeORM runs it with callListeners(false)): each row once', async () => {
    const x = await tree();
    await t.dataSource.manager.remove(await repo(Board).findOneByOrFail({ id: x.board.id }));
    const got = await pushes(acme, 5);
    expect(summary(got)).toEqual(expectedTreePushes(x));
  });

  it('repository.remove of several rows of which one is the parent of another: no double push', async () => {
    const x = await tree();
    await repo(Remark).remove(await repo(Remark).findBy(x.remarks.map((r) => ({ id: r.id }))));
    expect(summary(await pushes(acme, 2))).toEqual(summary(x.remarks.map((r) => ({ event: 'kb.Remark.deleted', data: { id: r.id } }))));
  });

  it("remove with TypeORM's own cascade: ['remove'] (TypeORM deletes the loaded cards itself): each row once", async () => {
    const x = await tree();
    await repo(Board).remove(await repo(Board).findOneOrFail({ where: { id: x.board.id }, relations: { cards: true } }));
    expect(summary(await pushes(acme, 5))).toEqual(expectedTreePushes(x));
  });

  it('the delete action of a binding, over WebSocket, pushes the cascades of the row it deletes', async () => {
    const x = await tree();
    // Board and Card have a delete date: their delete action soft-removes (no cascade). A remark is deleted.
    expect((await acme.request('kb.Remark.delete', { id: x.remarks[0].id })).data).toEqual({ id: x.remarks[0].id });
    expect(summary(await pushes(acme, 2))).toEqual(summary(x.remarks.map((r) => ({ event: 'kb.Remark.deleted', data: { id: r.id } }))));
  });

  it('QueryBuilder delete of unbound rows (lanes) pushes their bound cards and the cards remarks', async () => {
    const x = await tree();
    await t.dataSource.createQueryBuilder().delete().from(Lane).where('boardId = :board', { board: x.board.id }).execute();
    const got = await pushes(acme, 4);
    expect(summary(got)).toEqual(
      summary([
        ...x.cards.map((c) => ({ event: 'kb.Card.deleted', data: { id: c.id } })),
        ...x.remarks.map((r) => ({ event: 'kb.Remark.deleted', data: { id: r.id } })),
      ]),
    );
  });

  it('repository.delete of a bound row pushes its own delete and its cascades', async () => {
    const x = await tree();
    await repo(Card).delete({ id: x.cards[0].id });
    expect(summary(await pushes(acme, 3))).toEqual(
      summary([{ event: 'kb.Card.deleted', data: { id: x.cards[0].id } }, ...x.remarks.map((r) => ({ event: 'kb.Remark.deleted', data: { id: r.id } }))]),
    );
  });

  it(`a self-referencing chain is followed ${MAX_CASCADE_DEPTH} foreign keys deep, no further`, async () => {
    const x = await tree();
    const chain: Remark[] = [];
    for (let i = 0; i <= MAX_CASCADE_DEPTH + 2; i++) {
      chain.push(await repo(Remark).save({ body: `level ${i}`, cardId: x.cards[0].id, parentId: chain[i - 1]?.id ?? null }));
    }
    await drain();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      await repo(Remark).delete(chain[0].id);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining(`deeper than ${MAX_CASCADE_DEPTH} foreign keys`));
    } finally {
      warn.mockRestore();
    }
    const got = await pushes(acme, MAX_CASCADE_DEPTH + 1);
    expect(got.map((p) => p.data.body).sort()).toEqual(
      chain
        .slice(0, MAX_CASCADE_DEPTH + 1)
        .map((r) => r.body)
        .sort(),
    );
    expect(await repo(Remark).countBy({ cardId: x.cards[0].id, body: `level ${MAX_CASCADE_DEPTH + 2}` })).toBe(0);
  });
});

describe('SET NULL and SET DEFAULT push updated with the new key', () => {
  it('repository.delete of a person nulls ownerId: updated, changes ["ownerId"], the rest of the row as it was', async () => {
    const owner = await repo(Person).save({ name: unique('person') });
    const x = await tree(owner);
    await repo(Person).delete(owner.id);
    const [push, ...rest] = await pushes(acme, 1);
    expect(rest).toEqual([]);
    expect(push).toMatchObject({ event: 'kb.Card.updated', room: 'kb.Card', changes: ['ownerId'] });
    expect(push.data).toEqual(cardData(x.cards[0], { ownerId: null }));
    expect((await repo(Card).findOneByOrFail({ id: x.cards[0].id })).ownerId).toBeNull();
  });

  it('a SET NULL of a foreign key the binding excludes pushes nothing (nothing a client sees changed)', async () => {
    const holder = await repo(Person).save({ name: unique('person') });
    const badge = await repo(Badge).save({ name: unique('badge'), holderId: holder.id });
    await drain();
    await repo(Person).delete(holder.id);
    expect(await pushes(acme, 0)).toEqual([]);
    expect((await repo(Badge).findOneByOrFail({ id: badge.id })).holderId).toBeNull();
  });

  it('deleting a label sets labelCode back to its default', async () => {
    const label = await repo(Label).save({ code: unique('bug') });
    const x = await tree();
    await repo(Card).update({ id: x.cards[1].id }, { labelCode: label.code });
    await drain();
    await repo(Label).delete({ code: label.code });
    const [push, ...rest] = await pushes(acme, 1);
    expect(rest).toEqual([]);
    expect(push).toMatchObject({ event: 'kb.Card.updated', changes: ['labelCode'], data: { id: x.cards[1].id, labelCode: 'none' } });
  });
});

describe('ON UPDATE CASCADE: a key update pushes updated with the new foreign key', () => {
  async function labelled() {
    const label = await repo(Label).save({ code: unique('bug') });
    const x = await tree();
    await repo(Card).update({ id: x.cards[0].id }, { labelCode: label.code });
    await drain();
    return { label, x };
  }
  const expectRenamed = async (x: Tree, code: string) => {
    const [push, ...rest] = await pushes(acme, 1);
    expect(rest).toEqual([]);
    expect(push).toMatchObject({ event: 'kb.Card.updated', changes: ['labelCode'], data: { id: x.cards[0].id, labelCode: code } });
  };

  it('repository.update of a referenced (non-primary) key', async () => {
    const { label, x } = await labelled();
    await repo(Label).update({ code: label.code }, { code: `${label.code}-renamed` });
    await expectRenamed(x, `${label.code}-renamed`);
  });

  it('save() of a loaded entity with a new key (TypeORM updates with callListeners(false))', async () => {
    const { label, x } = await labelled();
    const loaded = await repo(Label).findOneByOrFail({ id: label.id });
    loaded.code = `${label.code}-saved`;
    await repo(Label).save(loaded);
    await expectRenamed(x, `${label.code}-saved`);
  });

  it('QueryBuilder update of a primary key moves the cards of the lane', async () => {
    const x = await tree();
    const moved = x.lane.id + 100000;
    await t.dataSource.createQueryBuilder().update(Lane).set({ id: moved }).where('id = :id', { id: x.lane.id }).execute();
    const got = await pushes(acme, 2);
    expect(got.map((p) => [p.event, p.data.id, p.data.laneId, p.changes])).toEqual(
      expect.arrayContaining(x.cards.map((c) => ['kb.Card.updated', c.id, moved, ['laneId']])),
    );
    expect(got).toHaveLength(2);
  });

  it('an update of a referenced table that sets no referenced key reads nothing more and pushes nothing', async () => {
    const person = await repo(Person).save({ name: unique('person') });
    await tree(person);
    log.length = 0;
    await repo(Person).update({ id: person.id }, { name: 'renamed' });
    expect(statements()).toEqual(['UPDATE']);
    expect(await pushes(acme, 0)).toEqual([]);
  });
});

describe('composite keys', () => {
  async function released() {
    const team = await repo(Team).save({ name: unique('team') });
    const releases = [await repo(Release).save({ teamId: team.id, tag: 'v1' }), await repo(Release).save({ teamId: team.id, tag: 'v2' })];
    const milestones = await repo(Milestone).save(releases.map((r) => ({ title: unique('milestone'), releaseTeamId: r.teamId, releaseTag: r.tag })));
    await drain();
    return { team, milestones };
  }
  const expectNulled = async (milestones: Milestone[]) => {
    const got = await pushes(acme, milestones.length);
    expect(got.map((p) => [p.event, p.data.id, p.data.releaseTeamId, p.data.releaseTag, [...p.changes].sort()]).sort()).toEqual(
      milestones.map((m) => ['kb.Milestone.updated', m.id, null, null, ['releaseTag', 'releaseTeamId']]).sort(),
    );
  };

  it('a delete of rows with a composite key nulls the composite foreign key that references them', async () => {
    const { team, milestones } = await released();
    await repo(Release).delete({ teamId: team.id });
    await expectNulled(milestones);
  });

  it('a cascade through a table with a composite key reaches the rows that reference it', async () => {
    const { team, milestones } = await released();
    await repo(Team).delete(team.id);
    await expectNulled(milestones);
    expect(await repo(Release).countBy({ teamId: team.id })).toBe(0);
  });
});

describe('transactions', () => {
  it('a cascade inside a transaction pushes only once it commits', async () => {
    const owner = await repo(Person).save({ name: unique('person') });
    const x = await tree(owner);
    await t.dataSource.transaction(async (manager) => {
      await manager.delete(Person, owner.id);
      await settle(80);
      expect(acme.pushes()).toEqual([]);
    });
    expect((await pushes(acme, 1)).map((p) => [p.event, p.data.id])).toEqual([['kb.Card.updated', x.cards[0].id]]);
  });

  it('a cascading statement outside a transaction is one commit: a live list gets one frame for the parent and its cascades', async () => {
    const x = await tree();
    const watcher = await TestSocket.open(t.ws, as(alice));
    try {
      const page = await watcher.request('kb.Card.list', { filter: { boardId: x.board.id }, live: true });
      expect(page.data).toMatchObject({ count: 2, seq: 0 });
      await repo(Board).delete(x.board.id);
      await watcher.waitFor(() => watcher.frames.some((f) => f.event === 'kb.Card.list.changed'));
      await settle(120);
      const frames = watcher.frames.filter((f) => f.event === 'kb.Card.list.changed');
      expect(frames).toHaveLength(1);
      expect(frames[0]).toMatchObject({ room: page.data.room, seq: 1, count: 0 });
      expect(frames[0].ops.map((op: unknown[]) => op[0])).toEqual(['remove', 'remove']);
    } finally {
      watcher.close();
    }
  });

  it('a rolled-back transaction pushes nothing and changes nothing', async () => {
    const x = await tree();
    await expect(
      t.dataSource.transaction(async (manager) => {
        await manager.delete(Team, x.team.id);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await pushes(acme, 0)).toEqual([]);
    expect(await repo(Card).countBy(x.cards.map((c) => ({ id: c.id })))).toBe(2);
  });

  it('a rolled-back savepoint drops only its own cascades', async () => {
    const owner = await repo(Person).save({ name: unique('person') });
    const x = await tree(owner);
    await t.dataSource.transaction(async (manager) => {
      await manager.delete(Person, owner.id);
      await expect(
        manager.transaction(async (inner) => {
          await inner.delete(Lane, x.lane.id);
          throw new Error('roll back the savepoint');
        }),
      ).rejects.toThrow('roll back the savepoint');
    });
    expect((await pushes(acme, 1)).map((p) => [p.event, p.data.id])).toEqual([['kb.Card.updated', x.cards[0].id]]);
  });
});

describe('soft delete does not cascade in the database', () => {
  it('softDelete of a board pushes the board only; its cards stay and push nothing', async () => {
    const x = await tree();
    await repo(Board).softDelete(x.board.id);
    expect(summary(await pushes(acme, 1))).toEqual([['kb.Board.deleted', x.board.id]]);
    expect((await acme.request('kb.Card.retrieve', { id: x.cards[0].id })).data).toMatchObject({ id: x.cards[0].id });
  });

  it("softRemove with cascade: ['soft-remove'] soft-removes the loaded cards through TypeORM, each pushing deleted", async () => {
    const x = await tree();
    await repo(Board).softRemove(await repo(Board).findOneOrFail({ where: { id: x.board.id }, relations: { cards: true } }));
    expect(summary(await pushes(acme, 3))).toEqual(
      summary([{ event: 'kb.Board.deleted', data: { id: x.board.id } }, ...x.cards.map((c) => ({ event: 'kb.Card.deleted', data: { id: c.id } }))]),
    );
  });

  it('a card soft-deleted earlier is not pushed again when the database deletes it', async () => {
    const x = await tree();
    await repo(Card).softDelete(x.cards[0].id);
    await drain();
    await repo(Lane).delete(x.lane.id);
    expect(summary(await pushes(acme, 3))).toEqual(
      summary([{ event: 'kb.Card.deleted', data: { id: x.cards[1].id } }, ...x.remarks.map((r) => ({ event: 'kb.Remark.deleted', data: { id: r.id } }))]),
    );
  });
});

describe('every push rule holds for cascaded rows', () => {
  it('a row of another tenant reached by a cascade reaches that tenant only, and bumps no other room', async () => {
    const x = await tree();
    const theirs = await repo(Card).save({ title: unique('theirs'), tenant: 'globex', boardId: x.board.id, laneId: x.lane.id });
    await drain();
    const before = (await globex.request('kb.Card.subscribe', {})).data.seq;
    const acmeSeq = (await acme.request('kb.Card.subscribe', {})).data.seq;
    await repo(Team).delete(x.team.id);
    const mine = await pushes(acme, 5);
    expect(summary(mine)).toEqual(expectedTreePushes(x));
    expect(JSON.stringify(mine)).not.toContain(theirs.title);
    const got = await pushes(globex, 3);
    // globex sees its own card, the unscoped remarks, and nothing of acme's board or cards.
    expect(summary(got)).toEqual(
      summary([{ event: 'kb.Card.deleted', data: { id: theirs.id } }, ...x.remarks.map((r) => ({ event: 'kb.Remark.deleted', data: { id: r.id } }))]),
    );
    const card = got.find((p) => p.event === 'kb.Card.deleted');
    expect(card.seq).toBe(before + 1);
    expect(
      mine
        .filter((p) => p.event === 'kb.Card.deleted')
        .map((p) => p.seq)
        .sort(),
    ).toEqual([acmeSeq + 1, acmeSeq + 2]);
  });

  it('can.retrieve is applied per subscriber: a member does not see a classified card go, an admin does', async () => {
    const x = await tree();
    await repo(Card).update({ id: x.cards[1].id }, { title: 'classified' });
    await drain();
    await repo(Lane).delete(x.lane.id);
    expect(summary((await pushes(acme, 4)).filter((p) => p.event === 'kb.Card.deleted'))).toEqual(
      summary(x.cards.map((c) => ({ event: 'kb.Card.deleted', data: { id: c.id } }))),
    );
    expect(summary((await pushes(member, 3)).filter((p) => p.event === 'kb.Card.deleted'))).toEqual([['kb.Card.deleted', x.cards[0].id]]);
  });

  it('a socket in the instance, filter and model rooms of a cascaded row gets one push, naming the instance room', async () => {
    const owner = await repo(Person).save({ name: unique('person') });
    const x = await tree(owner);
    const s = await TestSocket.open(t.ws, as(alice));
    try {
      for (const data of [{ filter: { ownerId: owner.id } }, { id: x.cards[0].id }, {}])
        expect((await s.request('kb.Card.subscribe', data)).error).toBeUndefined();
      await repo(Person).delete(owner.id);
      const [push, ...rest] = await pushes(s, 1);
      expect(rest).toEqual([]);
      expect(push).toMatchObject({ event: 'kb.Card.updated', room: `kb.Card:${x.cards[0].id}`, data: { id: x.cards[0].id, ownerId: null } });
    } finally {
      s.close();
    }
  });

  it('a filter room the row leaves through SET NULL gets the update (it matched before)', async () => {
    const owner = await repo(Person).save({ name: unique('person') });
    const x = await tree(owner);
    const s = await TestSocket.open(t.ws, as(alice));
    try {
      const { room } = (await s.request('kb.Card.subscribe', { filter: { ownerId: owner.id } })).data;
      await repo(Person).delete(owner.id);
      expect((await pushes(s, 1)).map((p) => [p.room, p.event, p.data.id, p.data.ownerId, p.changes])).toEqual([
        [room, 'kb.Card.updated', x.cards[0].id, null, ['ownerId']],
      ]);
    } finally {
      s.close();
    }
  });

  it('a filter room the row enters through SET NULL gets the update (it matches after); one that never matched gets nothing', async () => {
    const owner = await repo(Person).save({ name: unique('person') });
    const x = await tree(owner);
    const entering = await TestSocket.open(t.ws, as(alice));
    const outside = await TestSocket.open(t.ws, as(alice));
    try {
      const { room } = (await entering.request('kb.Card.subscribe', { filter: { boardId: x.board.id, ownerId: { isNull: true } } })).data;
      expect((await outside.request('kb.Card.subscribe', { filter: { boardId: x.board.id, title: 'no such card' } })).error).toBeUndefined();
      await repo(Person).delete(owner.id);
      expect((await pushes(entering, 1)).map((p) => [p.room, p.event, p.data.id, p.data.ownerId])).toEqual([[room, 'kb.Card.updated', x.cards[0].id, null]]);
      expect(await pushes(outside, 0)).toEqual([]);
    } finally {
      entering.close();
      outside.close();
    }
  });

  it('a cascaded delete is replayed to a client that reconnects with since', async () => {
    const x = await tree();
    const filter = { boardId: x.board.id };
    const a = await TestSocket.open(t.ws, as(alice));
    const { room, seq } = (await a.request('kb.Card.subscribe', { filter })).data;
    a.close();
    await settle(50);
    await repo(Team).delete(x.team.id);
    await settle(80);
    const b = await TestSocket.open(t.ws, as(alice));
    try {
      const reply = await b.request('kb.Card.subscribe', { filter, since: seq });
      expect(reply.data).toEqual({ room, seq: seq + 2, recovered: true });
      const replayed = b.pushes();
      expect(replayed.map((p) => p.seq)).toEqual([seq + 1, seq + 2]);
      expect(replayed.map((p) => p.data).sort((p, q) => p.id - q.id)).toEqual([...x.cards].sort((p, q) => p.id - q.id).map((c) => cardData(c)));
      expect(replayed.every((p) => p.event === 'kb.Card.deleted' && p.room === room)).toBe(true);
    } finally {
      b.close();
    }
  });
});

describe('cost', () => {
  it('one SELECT per foreign key reached, none past an empty level', async () => {
    const team = await repo(Team).save({ name: unique('team') });
    await repo(Board).save({ title: unique('board'), tenant: 'acme', teamId: team.id });
    const owner = await repo(Person).save({ name: unique('person') });
    await drain();
    log.length = 0;
    await repo(Person).delete(owner.id);
    expect(statements()).toEqual(['SELECT', 'DELETE']);
    log.length = 0;
    // Team -> boards (1) and releases (1, empty: no further), then the board's lanes (1, empty) and cards (1, empty).
    await repo(Team).delete(team.id);
    expect(statements()).toEqual(['SELECT', 'SELECT', 'SELECT', 'SELECT', 'DELETE']);
  });

  it('a row reached by many paths is read once: two self-references cost two SELECTs a level, not one per path', async () => {
    const x = await tree();
    const chain: Remark[] = [];
    for (let i = 0; i < 10; i++) {
      const previous = chain[i - 1]?.id ?? null;
      chain.push(await repo(Remark).save({ body: unique('quoting'), cardId: x.cards[0].id, parentId: previous, quoteId: previous }));
    }
    await drain();
    log.length = 0;
    await repo(Remark).delete(chain[0].id);
    // The own row (1 select), then each level through parent and quote; the last level finds nothing.
    expect(statements().filter((word) => word === 'SELECT')).toHaveLength(1 + 2 * chain.length);
    expect(summary(await pushes(acme, chain.length))).toEqual(summary(chain.map((r) => ({ event: 'kb.Remark.deleted', data: { id: r.id } }))));
  });

  it('updates that set other columns of a referenced table, in any mix, cost nothing and keep no state', async () => {
    const x = await tree();
    const plans: Map<string, unknown> = (t.app.get(ChangeCapture, { strict: false }) as any).cascading.plans;
    const known = plans.size;
    log.length = 0;
    for (const values of [{ name: 'a' }, { boardId: x.board.id }, { name: 'b', boardId: x.board.id }]) await repo(Lane).update({ id: x.lane.id }, values);
    expect(statements()).toEqual(['UPDATE', 'UPDATE', 'UPDATE']);
    expect(plans.size).toBe(known);
  });

  it('a cascade over 1,200 rows pushes each once: keys in one parameter, new states read back in batches', async () => {
    const x = await tree();
    const values = Array.from({ length: 1200 }, (_, i) => ({ title: `bulk ${i}`, tenant: 'acme', boardId: x.board.id, laneId: x.lane.id }));
    // Written without listeners, so the set-up itself pushes nothing.
    await t.dataSource.createQueryBuilder().insert().into(Card).values(values).callListeners(false).updateEntity(false).execute();
    const bulk = (await repo(Card).findBy({ laneId: x.lane.id })).filter((c) => c.title.startsWith('bulk')).map((c) => c.id);
    expect(bulk).toHaveLength(1200);
    const moved = x.lane.id + 200000;
    await repo(Lane).update({ id: x.lane.id }, { id: moved });
    const updated = (await pushes(acme, 1202)).filter((p) => bulk.includes(p.data.id));
    expect(updated).toHaveLength(1200);
    expect(new Set(updated.map((p) => p.data.id)).size).toBe(1200);
    expect(updated.every((p) => p.event === 'kb.Card.updated' && p.data.laneId === moved)).toBe(true);
    await drain();
    await repo(Lane).delete(moved);
    const deleted = (await pushes(acme, 1204)).filter((p) => p.event === 'kb.Card.deleted');
    expect(deleted).toHaveLength(1202);
    expect(new Set(deleted.map((p) => p.data.id)).size).toBe(1202);
  });

  it('nothing when no bound entity references the table', async () => {
    const shelf = await repo(Shelf).save({});
    await repo(Book).save({ shelfId: shelf.id });
    log.length = 0;
    await repo(Shelf).delete(shelf.id);
    expect(statements()).toEqual(['DELETE']);
    expect(await repo(Book).countBy({ shelfId: shelf.id })).toBe(0);
  });
});
