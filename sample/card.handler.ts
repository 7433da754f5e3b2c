import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { plainToInstance } from 'class-transformer';
import { IsIn, IsInt, Min, validate } from 'class-validator';
import { DataSource, In } from 'typeorm';
import { BindingAction, BindingError, BindingHandler } from '../lib/index.js';
import { Card, COLUMNS } from './board.entity.js';

class MoveCard {
  @IsInt() id: number;
  @IsIn(COLUMNS) column: string;
  /** The card's index in its column afterwards (clamped to the column's end). */
  @IsInt() @Min(0) position: number;
}

/** The custom action of the sample: `kanban.Card.move`. */
@Injectable()
@BindingHandler(Card)
export class CardHandler {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Moves a card to `position` of `column` (another column, or the same one) and numbers the
   * cards of both columns 0, 1, 2… again, in one transaction: every live list of a column
   * gets one frame for the whole move, after the commit, never half of it.
   */
  @BindingAction('move')
  async move(data: unknown): Promise<{ id: number; column: string; position: number }> {
    const move = plainToInstance(MoveCard, data ?? {});
    const errors = await validate(move, { forbidUnknownValues: true, whitelist: true, forbidNonWhitelisted: true });
    if (errors.length)
      throw BindingError.badRequest(
        'Invalid move',
        errors.flatMap((e) => Object.values(e.constraints ?? {}).map((message) => ({ field: e.property, message }))),
      );
    return this.dataSource.transaction(async (manager) => {
      const cards = manager.getRepository(Card);
      const card = await cards.findOneBy({ id: move.id });
      if (!card) throw new BindingError('not_found', `Card ${move.id} not found`);
      const around = await cards.find({
        where: { boardId: card.boardId, column: In([card.column, move.column]) },
        order: { position: 'ASC', id: 'ASC' },
      });
      const source = around.filter((c) => c.column === card.column && c.id !== card.id);
      const target = move.column === card.column ? source : around.filter((c) => c.column === move.column);
      const position = Math.min(move.position, target.length);
      target.splice(position, 0, card);
      card.column = move.column;
      // Only the cards whose place changed are written (each a change of its own, one commit).
      const changed: Card[] = [];
      const renumber = (column: Card[]) =>
        column.forEach((c, index) => {
          if (c !== card && c.position === index) return;
          c.position = index;
          changed.push(c);
        });
      renumber(target);
      if (target !== source) renumber(source);
      await cards.save(changed);
      return { id: card.id, column: card.column, position };
    });
  }
}
