import type { FactoryProvider, ModuleMetadata, Type } from '@nestjs/common';
import type { BindingsModuleOptions } from './bindings-module-options.interface.js';

/**
 * A class whose instance creates the options, for `forRootAsync({ useClass })` and
 * `forRootAsync({ useExisting })`. It may inject anything its module provides.
 */
export interface BindingsOptionsFactory {
  /** Returns the module options (or a promise of them); called once, at start-up. */
  createBindingsOptions(): BindingsModuleOptions | Promise<BindingsModuleOptions>;
}

/**
 * Options of `BindingsModule.forRootAsync()`: give exactly one of `useFactory`, `useClass`
 * or `useExisting`.
 */
export interface BindingsModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /**
   * Modules whose exported providers `useFactory`'s `inject`, `useClass` or `useExisting`
   * need (for example `ConfigModule`). Global modules need not be listed.
   */
  imports?: ModuleMetadata['imports'];
  /**
   * Returns the options, or a promise of them; its arguments are the providers listed in
   * `inject`, in that order. Example: `useFactory: (config: ConfigService) => ({ path: config.get('WS_PATH') })`.
   */
  useFactory?: (...args: any[]) => BindingsModuleOptions | Promise<BindingsModuleOptions>;
  /** The providers (classes or tokens) `useFactory` receives as arguments, from `imports` or global modules. */
  inject?: FactoryProvider['inject'];
  /**
   * A class implementing `BindingsOptionsFactory`: the module creates its own instance
   * (its dependencies come from `imports`) and calls `createBindingsOptions()`.
   */
  useClass?: Type<BindingsOptionsFactory>;
  /**
   * A provider implementing `BindingsOptionsFactory` that the application already has
   * (exported by one of `imports`, or global): reused, not created again.
   */
  useExisting?: Type<BindingsOptionsFactory>;
  /**
   * The name of the TypeORM DataSource whose entities are served (default: the default one).
   * Given here, not by the factory: the DataSource is injected before the factory runs.
   */
  dataSource?: string;
  /**
   * Prefix of the REST routes; `false` registers no REST routes. Given here it wins over the
   * factory's (a factory's `false` still serves none: its routes are bound to no host).
   */
  restPrefix?: string | false;
}
