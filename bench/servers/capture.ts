import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { TypeOrmModule } from '@nestjs/typeorm';
import { IsInt, IsString } from 'class-validator';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { Binding, BindingsModule } from '../../lib/index.js';

// The cost of each capture mode: one small table written through REST (PATCH), with
// CAPTURE=orm (TypeORM calls) or CAPTURE=database (triggers + outbox), on the SQLite file
// or PostgreSQL URL in CAPTURE_DB. bench/capture.mjs starts it on a fresh database each run.
// Commits do not wait for the disk (PostgreSQL synchronous_commit off, SQLite WAL with
// synchronous NORMAL): otherwise every run measures this machine's fsync, whatever the capture.

@Binding({ app: 'bench', name: 'Note', autoSubscribe: [] })
@Entity('bench_note')
export class BenchNote {
  @PrimaryGeneratedColumn() id: number;
  @Column() @IsString() text: string;
  @Column('int', { default: 0 }) @IsInt() rank: number;
}

export const NOTES = 100;
const target = process.env.CAPTURE_DB!;
const database = target.startsWith('postgres')
  ? { type: 'postgres' as const, url: target, entities: [BenchNote], synchronize: true, extra: { options: '-c synchronous_commit=off' } }
  : {
      type: 'better-sqlite3' as const,
      database: target,
      entities: [BenchNote],
      synchronize: true,
      enableWAL: true,
      prepareDatabase: (db: { pragma(sql: string): unknown }) => {
        db.pragma('synchronous = NORMAL');
      },
    };

@Module({
  imports: [
    TypeOrmModule.forRoot(database),
    BindingsModule.forRoot({
      limits: { framesPerSecond: 1e9, burst: 1e9, connectionsPerUser: 1e9 },
      capture: process.env.CAPTURE === 'database' ? 'database' : 'orm',
    }),
  ],
})
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: ['error'] });
app.useWebSocketAdapter(new WsAdapter(app));
const notes = app.get(DataSource).getRepository(BenchNote);
if ((await notes.count()) < NOTES) await notes.insert(Array.from({ length: NOTES }, (_, i) => ({ text: `note ${i + 1}` })));
await app.listen(Number(process.env.PORT), '127.0.0.1');
console.log('ready');
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close().then(() => process.exit(0)));
