import { InvalidBindingException } from './invalid-binding.exception.js';

/**
 * Thrown at start-up when a binding's `relations` names a relation whose target entity has
 * no `@Binding`: an include could not apply that entity's `exclude`, `scope` or
 * `can.retrieve`, so it would send every column of every row.
 */
export class UnboundRelationException extends InvalidBindingException {
  constructor(entity: string, relation: string, target: string) {
    super(
      entity,
      `relations names "${relation}", whose target entity ${target} has no @Binding, so an include could not apply its exclude, scope or can.retrieve`,
      `Put @Binding({ exclude, scope, can, ... }) on ${target} to say what its rows may show and to whom, or remove "${relation}" from relations.`,
    );
    this.name = 'UnboundRelationException';
  }
}
