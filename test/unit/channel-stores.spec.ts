import { MemoryMessageStore, type ChannelMessageData } from '../../lib/channels/channel-message-store.js';
import { MemoryPresenceStore } from '../../lib/adapters/presence-store.js';

const message = (channel: string, id: string, text = id): ChannelMessageData => ({ channel, id, user: 'u', message: text, date: new Date(0).toISOString() });

describe('MemoryMessageStore', () => {
  it('keeps the newest `keep` messages per channel, oldest first, and none with keep 0', async () => {
    const store = new MemoryMessageStore();
    for (const id of ['1', '2', '3', '4']) await store.append(message('a', id), 3);
    await store.append(message('b', 'x'), 0);
    expect((await store.history('a', 10)).map((m) => m.id)).toEqual(['2', '3', '4']);
    expect((await store.history('a', 2)).map((m) => m.id)).toEqual(['3', '4']);
    expect(await store.history('b', 10)).toEqual([]);
    expect(await store.edit('a', '1', 'gone')).toBeUndefined();
    expect(await store.edit('a', '3', 'three')).toEqual(message('a', '3', 'three'));
    expect(await store.delete('a', '3')).toEqual(message('a', '3', 'three'));
    expect((await store.history('a', 10)).map((m) => m.id)).toEqual(['2', '4']);
  });

  it('drops the history of the channel written to least recently beyond maxChannels', async () => {
    const store = new MemoryMessageStore(2);
    await store.append(message('a', '1'), 5);
    await store.append(message('b', '2'), 5);
    await store.append(message('a', '3'), 5); // a is now the most recent
    await store.append(message('c', '4'), 5); // b goes
    expect((await store.history('a', 5)).map((m) => m.id)).toEqual(['1', '3']);
    expect(await store.history('b', 5)).toEqual([]);
    expect((await store.history('c', 5)).map((m) => m.id)).toEqual(['4']);
  });
});

describe('MemoryPresenceStore', () => {
  it('counts sockets per user: first add joins, last remove parts; states belong to present users', async () => {
    const store = new MemoryPresenceStore();
    expect(await store.add('c', 'ann', 's1')).toBe(true);
    expect(await store.add('c', 'ann', 's2')).toBe(false);
    expect(await store.add('c', 'ann', 's2')).toBe(false);
    expect(await store.add('c', 'bob', 's3')).toBe(true);
    expect(await store.setState('c', 'ann', { away: true })).toBe(true);
    expect(await store.setState('c', 'zed', 1)).toBe(false);
    expect(await store.list('c')).toEqual([
      { user: 'ann', state: { away: true } },
      { user: 'bob', state: null },
    ]);
    expect(await store.remove('c', 'ann', 's1')).toBe(false);
    expect(await store.remove('c', 'ann', 'unknown')).toBe(false);
    expect(await store.remove('c', 'ann', 's2')).toBe(true);
    expect(await store.remove('c', 'ann', 's2')).toBe(false);
    expect(await store.list('c')).toEqual([{ user: 'bob', state: null }]);
    expect(await store.add('c', 'ann', 's4')).toBe(true);
    expect(await store.list('c')).toEqual([
      { user: 'bob', state: null },
      { user: 'ann', state: null },
    ]);
  });
});
