import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * The stored form of a channel message. Add this entity to your TypeORM entities
 * (`entities: [..., ChannelMessage]` or `TypeOrmModule.forFeature([ChannelMessage])` with
 * `autoLoadEntities`) and channel history is kept in the database, across restarts and
 * shared by every instance; without it, history lives in memory. Not a binding: it is
 * served only through the `channel.*` events.
 */
@Entity('bindings_channel_message')
@Index('bindings_channel_message_channel_seq', ['channel', 'seq'])
export class ChannelMessage {
  /** Insertion order: history is read oldest first by this column. */
  @PrimaryGeneratedColumn() seq: number;
  /** The message id clients see (a UUID). */
  @Column({ type: 'varchar', length: 36, unique: true }) id: string;
  @Column({ type: 'varchar', length: 200 }) channel: string;
  /** The author as `identify(user)` names it; null for an anonymous author. */
  @Column({ name: 'author', type: 'varchar', length: 200, nullable: true }) user: string | null;
  /** The message, as JSON text. */
  @Column({ name: 'body', type: 'text' }) message: string;
  @Column({ type: Date }) date: Date;
}
