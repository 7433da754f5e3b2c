import { IsIn, IsInt, IsOptional, IsString, Length, Min } from 'class-validator';
import { Column, CreateDateColumn, Entity, ManyToOne, OneToMany, PrimaryGeneratedColumn, VersionColumn, type Relation } from 'typeorm';
import { Binding } from '../lib/index.js';

/** The columns of a board, in order. */
export const COLUMNS = ['todo', 'doing', 'done'];

/** A kanban board: `kanban.Board`. */
@Binding({ app: 'kanban', relations: ['cards'] })
@Entity()
export class Board {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() @Length(1, 100) title: string;
  @OneToMany(() => Card, (card) => card.board) cards?: Relation<Card>[];
}

/**
 * A card on a board: `kanban.Card`. `note` is private: never sent, never writable. A column
 * of the page is a live list of the cards of one `column`, ordered by `position`.
 */
@Binding({
  app: 'kanban',
  exclude: ['note'],
  relations: ['board'],
  searchFields: ['title'],
  orderFields: ['position', 'title', 'createdAt'],
})
@Entity()
export class Card {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() @Length(1, 200) title: string;
  @Column({ default: 'todo' }) @IsIn(COLUMNS) column: string;
  @Column('int', { default: 0 }) @IsInt() @Min(0) position: number;
  @Column('int') @IsInt() boardId: number;
  @ManyToOne(() => Board, (board) => board.cards, { onDelete: 'CASCADE' }) board?: Relation<Board>;
  @Column({ nullable: true }) @IsOptional() @IsString() note?: string;
  @CreateDateColumn() createdAt: Date;
  @VersionColumn() version: number;
}
