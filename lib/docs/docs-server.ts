import { Inject, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { BINDINGS_OPTIONS } from '../bindings.constants.js';
import type { ResolvedOptions } from '../bindings.options.js';
import { importOptional } from '../optional-package.js';
import { BindingsDocs } from './openapi-document.js';

/**
 * Serves the OpenAPI document at `<prefix>/docs-json` and the Swagger UI page at
 * `<prefix>/docs`, through `@nestjs/swagger` (an optional peer dependency: without it only
 * the JSON document is served). `mount()` runs from the module's `configure()`, which Nest
 * calls before it registers controller routes: the page's assets (`<prefix>/docs/*.js`)
 * would otherwise be taken by the REST route `GET <prefix>/:app/:model`.
 */
@Injectable()
export class DocsServer {
  private readonly logger = new Logger('BindingsModule');
  private mounted = false;

  constructor(
    @Inject(BINDINGS_OPTIONS) private readonly options: ResolvedOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly docs: BindingsDocs,
  ) {}

  async mount(): Promise<void> {
    const adapter = this.adapterHost.httpAdapter;
    if (this.mounted || this.options.docs === false || this.options.restPrefix === false || !adapter) return;
    this.mounted = true;
    const path = `${this.docs.basePath()}/docs`;
    const swagger = await importOptional<typeof import('@nestjs/swagger')>('@nestjs/swagger');
    // On Fastify the page's static files need @fastify/static (an optional peer of Nest's Fastify
    // platform); SwaggerModule would end the process without it.
    const staticFiles = adapter.getType() !== 'fastify' || (await importOptional('@fastify/static')) !== undefined;
    if (!swagger || !staticFiles) {
      const missing = !swagger ? '@nestjs/swagger' : '@nestjs/swagger and @fastify/static';
      this.logger.warn(`Install ${missing} to serve the API page at ${path}; serving only ${path}-json`);
      adapter.get(`${path}-json`, (_req: unknown, res: any) => adapter.reply(res, this.docs.document(), 200));
      return;
    }
    // SwaggerModule.setup wants the application only for its HTTP adapter and static files.
    const app = {
      getHttpAdapter: () => adapter,
      useStaticAssets: (root: string, options: { prefix?: string }) => (adapter as any).useStaticAssets(root, options),
    };
    swagger.SwaggerModule.setup(path, app as any, () => this.docs.document() as any, {
      raw: ['json'], // <path>-json; no YAML
      customSiteTitle: (this.options.docs || {}).title ?? 'nest-bindings API',
    });
  }
}
