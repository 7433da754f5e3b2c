import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WsAdapter } from '@nestjs/platform-ws';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { BindingsModule } from '../../lib/index.js';
import { databaseOptions, seed } from './product.js';

// nest-bindings serving the same table: retrieve over WebSocket and REST, and pushes; on
// Express, or on Fastify with PLATFORM=fastify.
/** The heap in use after a full collection (the bench runs servers with --expose-gc), for the memory per socket. */
@Controller('heap')
class HeapController {
  @Get()
  heap() {
    (globalThis as { gc?: () => void }).gc?.();
    return { heapUsed: process.memoryUsage().heapUsed };
  }
}

@Module({
  controllers: [HeapController],
  imports: [
    TypeOrmModule.forRoot(databaseOptions(process.env.BENCH_DB!)),
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
