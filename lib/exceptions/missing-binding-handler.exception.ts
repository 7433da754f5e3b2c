/** Thrown at start-up when a class has `@BindingAction` methods but no `@BindingHandler(Entity)` saying whose actions they are. */
export class MissingBindingHandlerException extends Error {
  constructor(action: string, method: string) {
    super(`@BindingAction('${action}') on ${method} has no entity to belong to. Put @BindingHandler(Entity) on the class.`);
    this.name = 'MissingBindingHandlerException';
  }
}
