/** Thrown at start-up when a `@Binding` cannot be served; the message says how to fix it. */
export class InvalidBindingException extends Error {
  constructor(entity: string, problem: string, fix: string) {
    super(`@Binding on ${entity}: ${problem}. ${fix}`);
    this.name = 'InvalidBindingException';
  }
}
