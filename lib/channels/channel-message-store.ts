import type { EntityManager, Repository } from 'typeorm';
import { ChannelMessage } from './channel-message.entity.js';

/** A channel message as clients see it. */
export interface ChannelMessageData {
  channel: string;
  id: string;
  /** The author (`identify(user)`), or null when anonymous. */
  user: string | null;
  message: unknown;
  /** ISO 8601, when it was first posted. */
  date: string;
}

/** Where channel history lives. Every channel keeps at most `keep` messages, the newest. */
export abstract class ChannelMessageStore {
  /** Stores a new message, then drops the oldest ones beyond `keep`. */
  abstract append(message: ChannelMessageData, keep: number): Promise<void>;
  abstract find(channel: string, id: string): Promise<ChannelMessageData | undefined>;
  /** Replaces the text of a message; answers it, or undefined when it is not stored. */
  abstract edit(channel: string, id: string, text: unknown): Promise<ChannelMessageData | undefined>;
  /** Deletes a message; answers its last state, or undefined when it is not stored. */
  abstract delete(channel: string, id: string): Promise<ChannelMessageData | undefined>;
  /** The newest `limit` messages of `channel`, oldest first. */
  abstract history(channel: string, limit: number): Promise<ChannelMessageData[]>;
}

/**
 * History of one process, in memory (the default). Channel names come from clients, so the
 * number of channels with history is bounded too: past `maxChannels`, the history of the
 * channel written to least recently is dropped.
 */
export class MemoryMessageStore extends ChannelMessageStore {
  private readonly channels = new Map<string, ChannelMessageData[]>();

  constructor(private readonly maxChannels = 10_000) {
    super();
  }

  async append(message: ChannelMessageData, keep: number): Promise<void> {
    if (keep <= 0) return;
    let list = this.channels.get(message.channel);
    // Map order is the order of the last write: re-inserting makes this channel the newest.
    if (list) this.channels.delete(message.channel);
    this.channels.set(message.channel, (list ??= []));
    list.push(message);
    if (list.length > keep) list.splice(0, list.length - keep);
    if (this.channels.size > this.maxChannels) this.channels.delete(this.channels.keys().next().value!);
  }

  async find(channel: string, id: string): Promise<ChannelMessageData | undefined> {
    return this.channels.get(channel)?.find((m) => m.id === id);
  }

  async edit(channel: string, id: string, text: unknown): Promise<ChannelMessageData | undefined> {
    const list = this.channels.get(channel);
    const index = list?.findIndex((m) => m.id === id) ?? -1;
    if (!list || index < 0) return undefined;
    list[index] = { ...list[index], message: text };
    return list[index];
  }

  async delete(channel: string, id: string): Promise<ChannelMessageData | undefined> {
    const list = this.channels.get(channel);
    const index = list?.findIndex((m) => m.id === id) ?? -1;
    if (!list || index < 0) return undefined;
    const [removed] = list.splice(index, 1);
    if (list.length === 0) this.channels.delete(channel);
    return removed;
  }

  async history(channel: string, limit: number): Promise<ChannelMessageData[]> {
    const list = this.channels.get(channel) ?? [];
    return limit <= 0 ? [] : list.slice(-limit);
  }
}

/**
 * History in the application's database, in the table of the `ChannelMessage` entity.
 * Writes go through `write` (the bindings' write queue) so that, on SQLite's one shared
 * connection, they never land inside another request's transaction.
 */
export class TypeOrmMessageStore extends ChannelMessageStore {
  constructor(
    private readonly repository: Repository<ChannelMessage>,
    private readonly write: <T>(work: (manager: EntityManager) => Promise<T>) => Promise<T>,
  ) {
    super();
  }

  async append(message: ChannelMessageData, keep: number): Promise<void> {
    if (keep <= 0) return;
    await this.write(async (manager) => {
      const repository = manager.getRepository(ChannelMessage);
      await repository.insert({ id: message.id, channel: message.channel, user: message.user, message: JSON.stringify(message.message), date: new Date(message.date) });
      // The seq of the newest message that falls out of the window, if any.
      const cut = await repository
        .createQueryBuilder('m')
        .select('m.seq', 'seq')
        .where('m.channel = :channel', { channel: message.channel })
        .orderBy('m.seq', 'DESC')
        .offset(keep)
        .limit(1)
        .getRawOne<{ seq: number | string }>();
      if (cut) {
        await repository
          .createQueryBuilder()
          .delete()
          .where('channel = :channel AND seq <= :seq', { channel: message.channel, seq: Number(cut.seq) })
          .execute();
      }
    });
  }

  async find(channel: string, id: string): Promise<ChannelMessageData | undefined> {
    const row = await this.repository.findOneBy({ channel, id });
    return row ? toData(row) : undefined;
  }

  async edit(channel: string, id: string, text: unknown): Promise<ChannelMessageData | undefined> {
    return this.write(async (manager) => {
      const repository = manager.getRepository(ChannelMessage);
      const row = await repository.findOneBy({ channel, id });
      if (!row) return undefined;
      row.message = JSON.stringify(text);
      await repository.update({ seq: row.seq }, { message: row.message });
      return toData(row);
    });
  }

  async delete(channel: string, id: string): Promise<ChannelMessageData | undefined> {
    return this.write(async (manager) => {
      const repository = manager.getRepository(ChannelMessage);
      const row = await repository.findOneBy({ channel, id });
      if (!row) return undefined;
      await repository.delete({ seq: row.seq });
      return toData(row);
    });
  }

  async history(channel: string, limit: number): Promise<ChannelMessageData[]> {
    if (limit <= 0) return [];
    const rows = await this.repository.find({ where: { channel }, order: { seq: 'DESC' }, take: limit });
    return rows.reverse().map(toData);
  }
}

function toData(row: ChannelMessage): ChannelMessageData {
  return { channel: row.channel, id: row.id, user: row.user, message: JSON.parse(row.message), date: new Date(row.date).toISOString() };
}
