/**
 * Thrown at start-up when two handlers serve one event: two `@BindingAction`s of one name on
 * one entity, a custom action named like a CRUD action, or two `@OnStream`s of one stream.
 */
export class DuplicateEventException extends Error {
  constructor(event: string) {
    super(`The event "${event}" has two handlers. Rename one of the @BindingAction/@OnStream methods, or leave the CRUD action out of the binding's actions.`);
    this.name = 'DuplicateEventException';
  }
}
