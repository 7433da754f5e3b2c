import { Global, Inject, Module, type DynamicModule, type NestModule, type Provider, type Type } from '@nestjs/common';
import { HOST_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { DiscoveryModule, ModulesContainer } from '@nestjs/core';
import { BINDINGS_DATA_SOURCE_NAME } from './bindings.constants.js';
import type { ResolvedOptions } from './bindings.options.js';
import { BINDINGS_EXPORTS, BINDINGS_PROVIDERS, createAsyncOptionsProviders, createDataSourceProviders, createOptionsProviders } from './bindings.providers.js';
import { DocsServer } from './docs/docs-server.js';
import { DuplicateBindingsModuleException } from './exceptions/duplicate-bindings-module.exception.js';
import type { BindingsModuleAsyncOptions } from './interfaces/bindings-module-async-options.interface.js';
import type { BindingsModuleOptions } from './interfaces/bindings-module-options.interface.js';
import { createOpsController } from './transports/http/ops.controller.js';
import { createRestController } from './transports/http/rest.controller.js';

/**
 * Owns the providers and controllers of the bindings. Global, so the application injects
 * `BindingsService` and `BindingsDocs` anywhere; registered only through `BindingsModule`.
 */
@Global()
@Module({})
export class BindingsCoreModule implements NestModule {
  constructor(
    private readonly docs: DocsServer,
    @Inject(BINDINGS_DATA_SOURCE_NAME) dataSource: string,
    modules: ModulesContainer,
  ) {
    refuseSecondModule(dataSource, modules);
  }

  /** Nest calls this before it registers controller routes: the docs page goes first (see DocsServer). */
  async configure(): Promise<void> {
    await this.docs.mount();
  }

  static forRoot(options: BindingsModuleOptions = {}): DynamicModule {
    const controllers = createControllers();
    const providers = createOptionsProviders(options);
    const resolved = (providers[0] as { useValue: ResolvedOptions }).useValue;
    setPrefix(controllers, resolved.restPrefix);
    return this.assemble(controllers, resolved.restPrefix !== false, options.dataSource, providers, []);
  }

  static forRootAsync(options: BindingsModuleAsyncOptions): DynamicModule {
    const controllers = createControllers();
    // Nest reads a controller's path when it registers routes, after every provider (the
    // options included) has been created, so the factory's prefix still applies.
    const providers = createAsyncOptionsProviders(options, (resolved) => setPrefix(controllers, resolved.restPrefix));
    return this.assemble(controllers, options.restPrefix !== false, options.dataSource, providers, options.imports ?? []);
  }

  private static assemble(
    controllers: Type<unknown>[],
    rest: boolean,
    dataSource: string | undefined,
    options: Provider[],
    imports: DynamicModule['imports'],
  ): DynamicModule {
    return {
      module: BindingsCoreModule,
      imports: [DiscoveryModule, ...(imports ?? [])],
      controllers: rest ? controllers : [],
      providers: [...options, ...createDataSourceProviders(dataSource), ...BINDINGS_PROVIDERS],
      exports: BINDINGS_EXPORTS,
    };
  }
}

/**
 * Two bindings modules in one application would both capture every change of a shared
 * DataSource and push it twice, and the application's `BindingsService` would be either
 * one of them: refused at start-up, before anything is served.
 */
function refuseSecondModule(dataSource: string, modules: ModulesContainer): void {
  const names: string[] = [];
  for (const module of modules.values()) {
    if (module.metatype !== BindingsCoreModule) continue;
    const name = module.providers.get(BINDINGS_DATA_SOURCE_NAME)?.instance;
    names.push(typeof name === 'string' ? name : 'default');
  }
  if (names.length > 1) throw new DuplicateBindingsModuleException(dataSource, names);
}

/** A host pattern that no request has. */
const NO_HOST = /(?!)/;

/** The controllers of one module, in route order: operations (publish, admin/stats) before the REST routes. */
function createControllers(): Type<unknown>[] {
  return [createOpsController(), createRestController()];
}

function setPrefix(controllers: Type<unknown>[], prefix: string | false): void {
  for (const controller of controllers) {
    Reflect.defineMetadata(PATH_METADATA, prefix || '/', controller);
    // A forRootAsync factory answering `false` comes after the controller was registered, and
    // its routes would be served at the root, shadowing the application's. Bound to a host no
    // request has, they never match and every request goes on to the application's routes.
    if (prefix === false) Reflect.defineMetadata(HOST_METADATA, NO_HOST, controller);
  }
}
