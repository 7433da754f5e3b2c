import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsInt, IsString, Length, Min, validate } from 'class-validator';
import { plainToInstance } from 'class-transformer';
import type { Repository } from 'typeorm';
import { BindingAction, BindingError, BindingHandler, BindingsService, OnStream, type RequestContext } from '../lib/index.js';
import { Card } from './board.entity.js';

class MoveCard {
  @IsInt() id: number;
  @IsString() @Length(1, 20) column: string;
  @IsInt() @Min(0) position: number;
}

/** Custom events of the sample: `kanban.Card.move` and `chat.send`. */
@Injectable()
@BindingHandler(Card)
export class CardHandler {
  constructor(
    @InjectRepository(Card) private readonly cards: Repository<Card>,
    private readonly bindings: BindingsService,
  ) {}

  /** Moves a card with a QueryBuilder-style update: the push still goes out, after the statement. */
  @BindingAction('move')
  async move(data: unknown): Promise<{ id: number; column: string; position: number }> {
    const move = plainToInstance(MoveCard, data ?? {});
    const errors = await validate(move, { forbidUnknownValues: true, whitelist: true, forbidNonWhitelisted: true });
    if (errors.length)
      throw BindingError.badRequest(
        'Invalid move',
        errors.flatMap((e) => Object.values(e.constraints ?? {}).map((message) => ({ field: e.property, message }))),
      );
    const result = await this.cards.update({ id: move.id }, { column: move.column, position: move.position });
    if (!result.affected) throw new BindingError('not_found', `Card ${move.id} not found`);
    return { id: move.id, column: move.column, position: move.position };
  }

  /** A chat line broadcast to everyone in the `chat` room (not a database change). */
  @OnStream('chat.send')
  send(data: { text?: unknown }, ctx: RequestContext): { sent: number } {
    if (typeof data?.text !== 'string' || data.text.length === 0 || data.text.length > 500) {
      throw BindingError.badRequest('text must be a string of 1 to 500 characters');
    }
    return { sent: this.bindings.broadcast('chat', 'chat.message', { text: data.text, via: ctx.transport }) };
  }
}
