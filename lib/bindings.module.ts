import { Module, type DynamicModule } from '@nestjs/common';
import { BindingsCoreModule } from './bindings-core.module.js';
import type { BindingsModuleAsyncOptions } from './interfaces/bindings-module-async-options.interface.js';
import type { BindingsModuleOptions } from './interfaces/bindings-module-options.interface.js';

/**
 * Serves every `@Binding` entity of a TypeORM DataSource over WebSocket and REST, and
 * pushes their committed changes to subscribed sockets. Register it once, in the root
 * module, next to `TypeOrmModule.forRoot`; it is global, so any module injects
 * `BindingsService`. A second registration stops start-up with `DuplicateBindingsModuleException`.
 *
 * @publicApi
 */
@Module({})
export class BindingsModule {
  /**
   * Registers the bindings with options known now.
   *
   * ```ts
   * BindingsModule.forRoot({ path: '/ws', restPrefix: 'api', authenticate: (req) => userOf(req) })
   * ```
   *
   * @param options Every field is optional: `forRoot()` serves the default DataSource's
   *   bindings at `/ws` and under `/api`.
   */
  static forRoot(options: BindingsModuleOptions = {}): DynamicModule {
    return { module: BindingsModule, imports: [BindingsCoreModule.forRoot(options)] };
  }

  /**
   * Registers the bindings with options made at start-up by a factory (`useFactory` with
   * `inject`), a class (`useClass`) or an existing provider (`useExisting`), for example
   * from `ConfigService`. `dataSource` and `restPrefix` may be given here too: they are
   * needed before the factory runs.
   *
   * ```ts
   * BindingsModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({ path: config.get('WS_PATH') }),
   * })
   * ```
   *
   * @throws InvalidOptionsException when none of `useFactory`, `useClass` or `useExisting` is given.
   */
  static forRootAsync(options: BindingsModuleAsyncOptions): DynamicModule {
    return { module: BindingsModule, imports: [BindingsCoreModule.forRootAsync(options)] };
  }
}
