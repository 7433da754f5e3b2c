import type { INestApplication, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { importOptional } from '../optional-package.js';
import type { StandaloneConfig } from './config.js';
import { StandaloneModule } from './standalone.module.js';

/** Thrown when a package the server needs is not installed; the message says which. */
export class MissingServerPackage extends Error {}

/**
 * Starts the standalone server of `config` and answers it with the address it listens on.
 * It runs on Express (`@nestjs/platform-express`), keeps the raw bytes of request bodies
 * (the backend's signatures cover them) and accepts bodies up to `limits.maxPayload`.
 */
export async function startStandalone(
  config: StandaloneConfig,
  logger: LogLevel[] | false = ['warn', 'error'],
): Promise<{ app: INestApplication; url: string }> {
  if (!(await importOptional('@nestjs/platform-express'))) {
    throw new MissingServerPackage('The standalone server runs on Express: npm install @nestjs/platform-express');
  }
  if (config.adapter && !(await importOptional('ioredis'))) throw new MissingServerPackage('adapter.redis needs the ioredis package: npm install ioredis');
  const app = await NestFactory.create(StandaloneModule.forConfig(config), { rawBody: true, logger });
  (app as INestApplication & { useBodyParser(type: string, options: { limit: number }): void }).useBodyParser('json', {
    limit: config.limits.maxPayload ?? 1024 * 1024,
  });
  await app.listen(config.port, config.host);
  const { address, port } = app.getHttpServer().address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  return { app, url: `http://${host}:${port}` };
}
