/**
 * Every class that carries `@Binding`, as its decorator ran. The registry compares it with
 * the entities of its DataSource, so a binding that TypeORM does not know (a forgotten
 * `TypeOrmModule.forFeature`) is reported at start-up instead of answering 404 later.
 */
export const declaredBindings = new Set<Function>();
