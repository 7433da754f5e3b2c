/** Thrown at start-up when the module option `adapter` is none of the forms it accepts. */
export class InvalidAdapterException extends Error {
  constructor(given: string) {
    super(
      `adapter must be { redis: 'redis://…' }, { redis: <an ioredis Redis or Cluster> } or an instance of a class extending RoomAdapter; got ${given}. ` +
        'Fix the adapter option of BindingsModule.forRoot (or of the forRootAsync factory).',
    );
    this.name = 'InvalidAdapterException';
  }
}
