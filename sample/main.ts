import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { WsAdapter } from '@nestjs/platform-ws';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { AppModule } from './app.module.js';
import { Board, Card } from './board.entity.js';

async function main(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule);
  app.useWebSocketAdapter(new WsAdapter(app));
  app.useStaticAssets(join(process.cwd(), 'sample', 'public'));
  app.enableShutdownHooks();
  await seed(app.get(DataSource));
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, process.env.HOST ?? '127.0.0.1');
  console.log(`Kanban sample on http://127.0.0.1:${port}/ (WebSocket ws://127.0.0.1:${port}/ws, REST /api/kanban/Card)`);
}

/** A first board with a few cards, once. */
async function seed(dataSource: DataSource): Promise<void> {
  if (await dataSource.getRepository(Board).count()) return;
  const board = await dataSource.getRepository(Board).save({ title: 'Launch' });
  await dataSource.getRepository(Card).save([
    { title: 'Write the README', column: 'doing', position: 0, boardId: board.id },
    { title: 'Publish to npm', column: 'todo', position: 0, boardId: board.id },
    { title: 'Pick a name', column: 'done', position: 0, boardId: board.id, note: 'private: never sent' },
  ]);
}

void main();
