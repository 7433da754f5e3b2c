import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BindingsModule } from '../lib/index.js';
import { Board, Card } from './board.entity.js';
import { CardHandler } from './card.handler.js';

@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'better-sqlite3',
      database: process.env.SAMPLE_DB ?? 'sample/kanban.sqlite',
      autoLoadEntities: true,
      synchronize: true,
    }),
    TypeOrmModule.forFeature([Board, Card]),
    BindingsModule.forRoot({
      path: '/ws',
      restPrefix: 'api',
      // REDIS_URL=redis://127.0.0.1:6379 runs several instances of the sample side by side.
      adapter: process.env.REDIS_URL ? { redis: process.env.REDIS_URL, keyPrefix: process.env.REDIS_PREFIX } : undefined,
    }),
  ],
  providers: [CardHandler],
})
export class AppModule {}
