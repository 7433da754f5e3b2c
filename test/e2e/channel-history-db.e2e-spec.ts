// Channel history in the database: with the library's ChannelMessage entity registered,
// messages are stored in its table (trimmed to `history` per channel) and survive a restart.
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { BindingsModule, ChannelMessage } from '../../lib/index.js';
import { Category, Product } from '../fixtures/entities.js';
import { createApp, startApp, TestSocket } from '../fixtures/harness.js';

const user = { authenticate: (req: any) => (req.headers['x-user'] ? { id: String(req.headers['x-user']) } : null) };

describe('with the ChannelMessage entity', () => {
  it('stores messages in its table, keeps the newest `history` per channel, and edits and deletes them there', async () => {
    const t = await startApp([Product, Category, ChannelMessage], { ...user, channels: { history: 3 } });
    try {
      const alice = await TestSocket.open(t.ws, { 'x-user': 'alice' });
      const ids: string[] = [];
      for (const message of ['a', 'b', 'c', 'd', { rich: ['e'] }]) ids.push((await alice.request('channel.message', { channel: 'db', message })).data.id);
      await alice.request('channel.message', { channel: 'other', message: 'elsewhere' });
      const rows = await t.dataSource.getRepository(ChannelMessage).find({ where: { channel: 'db' }, order: { seq: 'ASC' } });
      expect(rows.map((r) => [r.id, r.user, JSON.parse(r.message)])).toEqual([
        [ids[2], 'alice', 'c'],
        [ids[3], 'alice', 'd'],
        [ids[4], 'alice', { rich: ['e'] }],
      ]);
      const history = (await alice.request('channel.history', { channel: 'db' })).data.messages;
      expect(history.map((m: any) => m.message)).toEqual(['c', 'd', { rich: ['e'] }]);
      expect(history[0]).toEqual({ channel: 'db', id: ids[2], user: 'alice', message: 'c', date: expect.any(String) });

      expect((await alice.request('channel.edit', { channel: 'db', id: ids[3], message: 'D' })).data.message).toBe('D');
      expect((await alice.request('channel.delete', { channel: 'db', id: ids[2] })).data.message).toBe('c');
      expect((await alice.request('channel.edit', { channel: 'db', id: ids[0], message: 'gone' })).error.code).toBe('not_found');
      expect((await alice.request('channel.history', { channel: 'db', limit: 5 })).data.messages.map((m: any) => m.message)).toEqual(['D', { rich: ['e'] }]);
      expect(await t.dataSource.getRepository(ChannelMessage).countBy({ channel: 'other' })).toBe(1);
      alice.close();
    } finally {
      await t.close();
    }
  });
});

describe('history across a restart (SQLite file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-channels-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function start(database: string) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ type: 'better-sqlite3', database, entities: [Product, Category, ChannelMessage], synchronize: true, retryAttempts: 0 }),
        BindingsModule.forRoot(user),
      ],
    }).compile();
    const app = createApp(moduleRef, { logger: ['error'] });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    return { app, ws: `ws://127.0.0.1:${port}/ws` };
  }

  it('messages written before the restart are in the history after it, and still editable by their author', async () => {
    const database = join(dir, 'chat.sqlite');
    const first = await start(database);
    const alice = await TestSocket.open(first.ws, { 'x-user': 'alice' });
    const before = [];
    for (const message of ['before 1', 'before 2']) before.push((await alice.request('channel.message', { channel: 'lobby', message })).data);
    alice.close();
    await first.app.close();

    const second = await start(database);
    try {
      const bob = await TestSocket.open(second.ws, { 'x-user': 'bob' });
      expect((await bob.request('channel.history', { channel: 'lobby' })).data).toEqual({ channel: 'lobby', messages: before });
      const again = await TestSocket.open(second.ws, { 'x-user': 'alice' });
      expect((await again.request('channel.edit', { channel: 'lobby', id: before[0].id, message: 'edited after' })).data).toEqual({
        ...before[0],
        message: 'edited after',
      });
      expect((await bob.request('channel.edit', { channel: 'lobby', id: before[1].id, message: 'not mine' })).error.code).toBe('forbidden');
      bob.close();
      again.close();
    } finally {
      await second.app.close();
    }
  });

  it('without the entity, history is in memory: gone after a restart', async () => {
    const database = join(dir, 'memory.sqlite');
    const startPlain = async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          TypeOrmModule.forRoot({ type: 'better-sqlite3', database, entities: [Product, Category], synchronize: true, retryAttempts: 0 }),
          BindingsModule.forRoot(user),
        ],
      }).compile();
      const app = createApp(moduleRef, { logger: ['error'] });
      await app.listen(0, '127.0.0.1');
      return { app, ws: `ws://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/ws` };
    };
    const first = await startPlain();
    const alice = await TestSocket.open(first.ws, { 'x-user': 'alice' });
    await alice.request('channel.message', { channel: 'lobby', message: 'volatile' });
    expect((await alice.request('channel.history', { channel: 'lobby' })).data.messages).toHaveLength(1);
    alice.close();
    await first.app.close();
    const second = await startPlain();
    try {
      const bob = await TestSocket.open(second.ws, { 'x-user': 'bob' });
      expect((await bob.request('channel.history', { channel: 'lobby' })).data.messages).toEqual([]);
      bob.close();
    } finally {
      await second.app.close();
    }
  });
});
