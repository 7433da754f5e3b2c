import 'reflect-metadata';
import type { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { WsAdapter } from '@nestjs/platform-ws';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { AppModule } from './app.module.js';
import { Board, Card } from './board.entity.js';

export interface SampleAppOptions {
  /**
   * Where the built ES modules of nest-bindings/client are, served at `/client/` for the
   * page (default `dist/lib/client`, which `npm start` builds).
   */
  clientDir?: string;
  logger?: LogLevel[] | false;
}

/**
 * The kanban sample, ready to listen: the bindings, the page (columns as live lists,
 * presence and chat through a channel), the client it imports, seeded data.
 */
export async function createSampleApp(options: SampleAppOptions = {}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule, options.logger === undefined ? {} : { logger: options.logger });
  app.useWebSocketAdapter(new WsAdapter(app));
  app.useStaticAssets(join(process.cwd(), 'sample', 'public'));
  app.useStaticAssets(options.clientDir ?? join(process.cwd(), 'dist', 'lib', 'client'), { prefix: '/client/' });
  await seed(app.get(DataSource));
  return app;
}

/** A first board with a few cards, once. */
async function seed(dataSource: DataSource): Promise<void> {
  if (await dataSource.getRepository(Board).count()) return;
  const board = await dataSource.getRepository(Board).save({ title: 'Launch' });
  const columns: Record<string, string[]> = {
    todo: ['Publish to npm', 'Write the changelog', 'Record a demo'],
    doing: ['Write the README', 'Live lists in the sample'],
    done: ['Pick a name'],
  };
  await dataSource
    .getRepository(Card)
    .save(
      Object.entries(columns).flatMap(([column, titles]) =>
        titles.map((title, position) => ({ title, column, position, boardId: board.id, note: title === 'Pick a name' ? 'private: never sent' : undefined })),
      ),
    );
}
