import type { EntityManager, Repository } from 'typeorm';
import { approximateSize } from '../rooms/memory-budget.js';
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

/** Bounds in bytes of the in-memory history (estimated sizes, see `approximateSize`). */
export interface HistoryBytes {
  /** Per channel: its oldest messages go first. */
  perChannel: number;
  /** Per author, in all channels: that author's oldest messages go first. */
  perUser: number;
  /** All channels: the oldest messages of the channel written to least recently go first. */
  total: number;
}

/** A message kept in memory, with its estimated size. */
interface Kept {
  data: ChannelMessageData;
  size: number;
  /** Set once it left the history, so the author's queue skips it. */
  gone?: boolean;
}

/**
 * History of one process, in memory (the default). Channel names come from clients, so the
 * number of channels with history is bounded too: past `maxChannels`, the history of the
 * channel written to least recently is dropped. Bytes are bounded per channel, per author
 * and in total; whatever is over a bound is dropped oldest first, never refused (the
 * message is still delivered to the members, it is only not kept).
 */
export class MemoryMessageStore extends ChannelMessageStore {
  private readonly channels = new Map<string, { list: Kept[]; bytes: number }>();
  /** Per author (null: anonymous), the messages kept, oldest first (some may be gone already). */
  private readonly authors = new Map<string | null, { queue: Kept[]; start: number; live: number; bytes: number }>();
  /** Estimated bytes of all messages kept. */
  bytes = 0;

  constructor(
    private readonly maxChannels = 10_000,
    private readonly limits: HistoryBytes = { perChannel: Infinity, perUser: Infinity, total: Infinity },
  ) {
    super();
  }

  /** Bytes kept for messages of `user` (null: anonymous). */
  bytesOf(user: string | null): number {
    return this.authors.get(user)?.bytes ?? 0;
  }

  async append(message: ChannelMessageData, keep: number): Promise<void> {
    if (keep <= 0) return;
    let channel = this.channels.get(message.channel);
    // Map order is the order of the last write: re-inserting makes this channel the newest.
    if (channel) this.channels.delete(message.channel);
    this.channels.set(message.channel, (channel ??= { list: [], bytes: 0 }));
    const kept: Kept = { data: message, size: approximateSize(message) };
    channel.list.push(kept);
    channel.bytes += kept.size;
    this.bytes += kept.size;
    let author = this.authors.get(message.user);
    if (!author) this.authors.set(message.user, (author = { queue: [], start: 0, live: 0, bytes: 0 }));
    author.queue.push(kept);
    author.live++;
    author.bytes += kept.size;
    while (channel.list.length > 0 && (channel.list.length > keep || channel.bytes > this.limits.perChannel)) this.drop(channel.list[0]);
    this.trim(message.user);
    if (this.channels.size > this.maxChannels) this.dropChannel(this.channels.keys().next().value!);
  }

  async find(channel: string, id: string): Promise<ChannelMessageData | undefined> {
    return this.channels.get(channel)?.list.find((m) => m.data.id === id)?.data;
  }

  async edit(channel: string, id: string, text: unknown): Promise<ChannelMessageData | undefined> {
    const entry = this.channels.get(channel);
    const kept = entry?.list.find((m) => m.data.id === id);
    if (!entry || !kept) return undefined;
    kept.data = { ...kept.data, message: text };
    const size = approximateSize(kept.data);
    const delta = size - kept.size;
    kept.size = size;
    entry.bytes += delta;
    this.bytes += delta;
    this.authors.get(kept.data.user)!.bytes += delta;
    const edited = kept.data;
    while (entry.list.length > 0 && entry.bytes > this.limits.perChannel) this.drop(entry.list[0]);
    this.trim(edited.user);
    return edited;
  }

  async delete(channel: string, id: string): Promise<ChannelMessageData | undefined> {
    const kept = this.channels.get(channel)?.list.find((m) => m.data.id === id);
    if (!kept) return undefined;
    this.drop(kept);
    return kept.data;
  }

  async history(channel: string, limit: number): Promise<ChannelMessageData[]> {
    const list = this.channels.get(channel)?.list ?? [];
    return limit <= 0 ? [] : list.slice(-limit).map((m) => m.data);
  }

  /** Applies the bounds per author (for `user`) and in total, oldest first. */
  private trim(user: string | null): void {
    const author = this.authors.get(user);
    while (author && author.bytes > this.limits.perUser) {
      if (author.start >= author.queue.length) break;
      this.drop(author.queue[author.start]);
    }
    while (this.bytes > this.limits.total && this.channels.size > 0) {
      const [name, entry] = this.channels.entries().next().value!;
      if (entry.list.length === 0) this.channels.delete(name);
      else this.drop(entry.list[0]);
    }
  }

  private dropChannel(name: string): void {
    const entry = this.channels.get(name);
    while (entry && entry.list.length > 0) this.drop(entry.list[0]);
    this.channels.delete(name);
  }

  /** Forgets one kept message everywhere it is counted. */
  private drop(kept: Kept): void {
    if (kept.gone) return;
    kept.gone = true;
    const name = kept.data.channel;
    const entry = this.channels.get(name);
    if (entry) {
      const index = entry.list[0] === kept ? 0 : entry.list.indexOf(kept);
      if (index >= 0) entry.list.splice(index, 1);
      entry.bytes -= kept.size;
      if (entry.list.length === 0) this.channels.delete(name);
    }
    this.bytes -= kept.size;
    const author = this.authors.get(kept.data.user);
    if (author) {
      author.bytes -= kept.size;
      if (--author.live === 0) {
        this.authors.delete(kept.data.user);
        return;
      }
      while (author.queue[author.start].gone) author.start++;
      // Messages dropped by their channel stay in the queue until compacted: keep it proportional to what is live.
      if (author.start > 64 || author.queue.length - author.start > 2 * author.live + 64) {
        author.queue = author.queue.slice(author.start).filter((m) => !m.gone);
        author.start = 0;
      }
    }
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
      await repository.insert({
        id: message.id,
        channel: message.channel,
        user: message.user,
        message: JSON.stringify(message.message),
        date: new Date(message.date),
      });
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
