import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BindingsModule } from '../lib/index.js';
import { queryTokenAuth, type SampleUser } from './auth.examples.js';
import { Board, Card } from './board.entity.js';
import { CardHandler } from './card.handler.js';
import { SAMPLE_SECRET, SessionController } from './session.js';

/** The board's channel: presence and chat of the people looking at board `id`. */
export const BOARD_CHANNEL = /^board:\d+$/;

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
      // The page connects with ?token= from POST /session; without one a socket is anonymous
      // (it may read and write the board, but is not in presence and may not chat).
      authenticate: queryTokenAuth(SAMPLE_SECRET),
      identify: (user: SampleUser) => user.name,
      channels: {
        history: 50,
        presence: true,
        can: {
          join: (user: SampleUser | null, channel) => user !== null && BOARD_CHANNEL.test(channel),
          message: (user: SampleUser | null, _channel, message) => user !== null && typeof message === 'string' && message.length <= 500,
        },
      },
      // REDIS_URL=redis://127.0.0.1:6379 runs several instances of the sample side by side.
      adapter: process.env.REDIS_URL ? { redis: process.env.REDIS_URL, keyPrefix: process.env.REDIS_PREFIX } : undefined,
    }),
  ],
  controllers: [SessionController],
  providers: [CardHandler],
})
export class AppModule {}
