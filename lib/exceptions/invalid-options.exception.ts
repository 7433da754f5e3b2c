/** Thrown at start-up when an option of `BindingsModule` cannot work; the message says how to fix it. */
export class InvalidOptionsException extends Error {
  constructor(option: string, problem: string, fix: string) {
    super(`${option} ${problem}. ${fix}`);
    this.name = 'InvalidOptionsException';
  }
}
