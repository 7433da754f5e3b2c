import 'reflect-metadata';
import { Controller, Get, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WsAdapter } from '@nestjs/platform-ws';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BindingsModule, OnStream } from '../../lib/index.js';
import { databaseOptions, seed } from './product.js';

/** Database queries run so far, for the live-list load (every query passes through the logger). */
let queries = 0;
const countingLogger = {
  logQuery: () => void queries++,
  logQueryError: () => undefined,
  logQuerySlow: () => undefined,
  logSchemaBuild: () => undefined,
  logMigration: () => undefined,
  log: () => undefined,
};

@Injectable()
class QueryCount {
  @OnStream('bench.queries')
  count() {
    return { queries };
  }
}

/** The heap in use after a full collection (the bench runs servers with --expose-gc), for the memory per socket. */
@Controller('heap')
class HeapController {
  @Get()
  heap() {
    (globalThis as { gc?: () => void }).gc?.();
    return { heapUsed: process.memoryUsage().heapUsed };
  }
}

// nest-bindings serving the same table: retrieve over WebSocket and REST, pushes and live lists; on
// Express, or on Fastify with PLATFORM=fastify.
@Module({
  controllers: [HeapController],
  providers: [QueryCount],
  imports: [
    TypeOrmModule.forRoot({ ...databaseOptions(process.env.BENCH_DB!), logger: countingLogger }),
    BindingsModule.forRoot({
      limits: { framesPerSecond: 1e9, burst: 1e9, connectionsPerUser: 1e9, subscriptionsPerSocket: 10 },
      adapter: process.env.REDIS_URL ? { redis: process.env.REDIS_URL, keyPrefix: process.env.REDIS_PREFIX } : undefined,
    }),
  ],
})
class AppModule {}

const app =
  process.env.PLATFORM === 'fastify'
    ? await NestFactory.create(AppModule, new FastifyAdapter(), { logger: ['error'] })
    : await NestFactory.create(AppModule, { logger: ['error'] });
app.useWebSocketAdapter(new WsAdapter(app));
await seed(app.get(DataSource));
await app.listen(Number(process.env.PORT), '127.0.0.1');
console.log('ready');
// A clean exit on SIGINT/SIGTERM, so `node --cpu-prof` writes its profile.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close().then(() => process.exit(0)));
