import { Injectable } from '@nestjs/common';

/** One user in a channel's presence list. */
export interface PresenceEntry {
  user: string;
  /** What the user last set with `channel.state` (null until then). */
  state: unknown;
}

/**
 * Who is in which channel, counted per socket so a user with several sockets is one entry
 * that leaves only with its last socket. The methods are asynchronous and name sockets by
 * a string unique across processes, so a store shared by several instances (Redis) can take
 * the place of the in-memory one without changing the channels.
 */
export abstract class PresenceStore {
  /**
   * Told when presence changes other than through add/remove: users of an instance that is
   * gone parted (a shared store), or users put back after this instance was taken for gone.
   */
  changed?: (channel: string, user: string, action: 'joined' | 'parted') => void;
  /** Records socket `socket` of `user` in `channel`; true when it is the user's first socket there (the user joined). */
  abstract add(channel: string, user: string, socket: string): Promise<boolean>;
  /** Forgets socket `socket` of `user` in `channel`; true when it was the user's last one there (the user parted). */
  abstract remove(channel: string, user: string, socket: string): Promise<boolean>;
  /** Sets the state of a user present in `channel`; false when the user is not present. */
  abstract setState(channel: string, user: string, state: unknown): Promise<boolean>;
  /** The users present in `channel`, in the order they joined. */
  abstract list(channel: string): Promise<PresenceEntry[]>;
}

/** The presence of one process, in memory. */
@Injectable()
export class MemoryPresenceStore extends PresenceStore {
  private readonly channels = new Map<string, Map<string, { sockets: Set<string>; state: unknown }>>();

  async add(channel: string, user: string, socket: string): Promise<boolean> {
    let users = this.channels.get(channel);
    if (!users) this.channels.set(channel, (users = new Map()));
    const entry = users.get(user);
    if (entry) {
      entry.sockets.add(socket);
      return false;
    }
    users.set(user, { sockets: new Set([socket]), state: null });
    return true;
  }

  async remove(channel: string, user: string, socket: string): Promise<boolean> {
    const users = this.channels.get(channel);
    const entry = users?.get(user);
    if (!users || !entry || !entry.sockets.delete(socket)) return false;
    if (entry.sockets.size > 0) return false;
    users.delete(user);
    if (users.size === 0) this.channels.delete(channel);
    return true;
  }

  async setState(channel: string, user: string, state: unknown): Promise<boolean> {
    const entry = this.channels.get(channel)?.get(user);
    if (!entry) return false;
    entry.state = state;
    return true;
  }

  async list(channel: string): Promise<PresenceEntry[]> {
    return [...(this.channels.get(channel) ?? [])].map(([user, entry]) => ({ user, state: entry.state }));
  }
}
