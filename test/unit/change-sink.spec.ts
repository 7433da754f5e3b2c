import type { Logger } from '@nestjs/common';
import { ChangeSink, commitOrLog } from '../../lib/changes/change-sink.js';
import { BindingError } from '../../lib/protocol/binding-error.js';
import type { EntityChange } from '../../lib/rows/entity-change.js';

// Both captures (ORM and database) hand a commit on through commitOrLog: a sink that throws
// must not fail the application's commit, and the log says which pushes were lost and why.
class Sink extends ChangeSink {
  readonly published: EntityChange[] = [];
  constructor(private readonly failure?: Error) {
    super();
  }
  publish(change: EntityChange): void {
    if (this.failure) throw this.failure;
    this.published.push(change);
  }
}
const change = (id: number) => ({ binding: { stream: 'shop.Product' }, kind: 'updated', id }) as unknown as EntityChange;
const logger = () => {
  const lines: string[] = [];
  return { lines, logger: { error: (line: string) => lines.push(line) } as unknown as Logger };
};

describe('commitOrLog', () => {
  it('hands the commit to the sink, in order, and logs nothing', () => {
    const sink = new Sink();
    const { lines, logger: log } = logger();
    commitOrLog(sink, [change(1), change(2)], log);
    expect(sink.published.map((c) => c.id)).toEqual([1, 2]);
    expect(lines).toEqual([]);
  });

  it('a BindingError is logged with its message, not thrown', () => {
    const { lines, logger: log } = logger();
    expect(() => commitOrLog(new Sink(BindingError.badRequest('hook refused')), [change(1), change(2)], log)).not.toThrow();
    expect(lines).toEqual(['Pushes of shop.Product 1, shop.Product 2 were not all sent: hook refused']);
  });

  it('another error is logged with its stack, not thrown', () => {
    const { lines, logger: log } = logger();
    const failure = new Error('redis down');
    expect(() => commitOrLog(new Sink(failure), [change(7)], log)).not.toThrow();
    expect(lines).toEqual([`Pushes of shop.Product 7 were not all sent: ${failure.stack}`]);
  });
});
