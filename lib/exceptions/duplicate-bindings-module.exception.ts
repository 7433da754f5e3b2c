/**
 * Thrown at start-up when an application registers `BindingsModule` more than once
 * (`forRoot` or `forRootAsync`, in any modules).
 */
export class DuplicateBindingsModuleException extends Error {
  constructor(dataSource: string, dataSources: readonly string[]) {
    const same = dataSources.filter((name) => name === dataSource).length > 1;
    super(
      same
        ? `BindingsModule is registered ${dataSources.length} times for the DataSource "${dataSource}": each would serve the same entities on its own path and push every change twice. ` +
            'Register it once, in the root module (BindingsModule.forRoot or forRootAsync); it is global, so other modules inject BindingsService without importing it again.'
        : `BindingsModule is registered ${dataSources.length} times, for the DataSources ${dataSources.map((name) => `"${name}"`).join(', ')}: an application serves the bindings of one DataSource. ` +
            "Register BindingsModule once, with the DataSource that holds the @Binding entities (dataSource: 'name'), and move the entities to serve into it.",
    );
    this.name = 'DuplicateBindingsModuleException';
  }
}
