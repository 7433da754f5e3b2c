import { Controller, Get, Header, HttpCode, Logger, Post, Req, type Type } from '@nestjs/common';
import { AdminStats } from '../../admin/admin-stats.js';
import { BindingError } from '../../protocol/binding-error.js';
import { Publisher } from '../../publish/publisher.js';
import { httpFailure } from './http-failure.js';
import { nodeRequest } from './platform.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const logger = new Logger('BindingsModule');

/**
 * The operations routes: `POST <prefix>/publish` for backends and `GET <prefix>/admin/stats`.
 * Registered before the REST controller, so `admin/stats` is not taken for a list of the
 * model `stats` of an app `admin`. Like the REST routes, they are a Nest controller: the
 * application's guards, interceptors and filters apply.
 */
export function createOpsController(): Type<unknown> {
  @Controller()
  class BindingsOpsController {
    constructor(
      private readonly publisher: Publisher,
      private readonly stats: AdminStats,
    ) {}

    @Post('publish')
    @Header('Content-Type', JSON_TYPE)
    @HttpCode(200)
    publish(@Req() req: unknown) {
      return answer(this.publisher.publish(nodeRequest(req)));
    }

    @Get('admin/stats')
    @Header('Content-Type', JSON_TYPE)
    @Header('Cache-Control', 'no-store')
    adminStats(@Req() req: unknown) {
      return answer(this.stats.forRequest(nodeRequest(req)));
    }
  }
  return BindingsOpsController;
}

/** Errors answer with the contract's body `{"error": {code, message}}` and status. */
async function answer<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof BindingError)) logger.error(`An operations route failed: ${(error as Error)?.stack ?? error}`);
    throw httpFailure(error);
  }
}
