/**
 * Thrown at start-up when `@BindingHandler(Entity)` names an entity these bindings do not
 * serve: one without `@Binding`, or one that is not an entity of their DataSource.
 */
export class UnboundHandlerException extends Error {
  constructor(entity: string, handler: string, hasBinding: boolean) {
    super(
      hasBinding
        ? `@BindingHandler(${entity}) on ${handler} names an entity that is not an entity of the DataSource these bindings serve. ` +
            `Register it with TypeORM: TypeOrmModule.forFeature([${entity}]) (with autoLoadEntities: true), or list it in the DataSource's entities.`
        : `@BindingHandler(${entity}) on ${handler} names an entity without @Binding. Add @Binding() to ${entity}.`,
    );
    this.name = 'UnboundHandlerException';
  }
}
