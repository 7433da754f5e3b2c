import { PatternReads } from '../../lib/actions/pattern-reads.js';
import type { BindingRegistry } from '../../lib/registry/binding.registry.js';

const registry = (dialect: 'sqlite' | 'postgres', poolSize?: number) =>
  ({ dialect, dataSource: { options: poolSize ? { poolSize } : {} } }) as unknown as BindingRegistry;

/** A read that records when it starts and ends; it ends when `release` is called (or at once). */
function recorder() {
  const log: string[] = [];
  const pending = new Map<string, () => void>();
  const read =
    (name: string, hold = false) =>
    () => {
      log.push(`start ${name}`);
      return new Promise<string>((resolve) => {
        const end = () => (log.push(`end ${name}`), resolve(name));
        if (hold) pending.set(name, end);
        else end();
      });
    };
  return { log, read, release: (name: string) => pending.get(name)!() };
}

describe('PatternReads', () => {
  it('on SQLite runs one read at a time, each after a turn of the event loop', async () => {
    const reads = new PatternReads(registry('sqlite'));
    const log: string[] = [];
    const read = (name: string) => async () => {
      log.push(`start ${name}`);
      // Work that arrives meanwhile (a ping's frame in production) is served before the next read.
      setImmediate(() => log.push(`served after ${name}`));
      log.push(`end ${name}`);
      return name;
    };
    expect(await Promise.all([reads.run('a', read('a1')), reads.run('a', read('a2')), reads.run('b', read('b1'))])).toEqual(['a1', 'a2', 'b1']);
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['start a1', 'end a1', 'served after a1', 'start a2', 'end a2', 'served after a2', 'start b1', 'end b1', 'served after b1']);
  });

  it('serves callers round-robin: a burst of one caller does not delay the others behind all of it', async () => {
    const reads = new PatternReads(registry('sqlite'));
    const { log, read, release } = recorder();
    const first = reads.run('alice', read('alice 1', true));
    await new Promise((r) => setImmediate(r));
    const rest = [
      reads.run('alice', read('alice 2')),
      reads.run('alice', read('alice 3')),
      reads.run('alice', read('alice 4')),
      reads.run('bob', read('bob 1')),
      reads.run('carol', read('carol 1')),
    ];
    release('alice 1');
    await Promise.all([first, ...rest]);
    expect(log.filter((l) => l.startsWith('start'))).toEqual([
      'start alice 1',
      'start alice 2',
      'start bob 1',
      'start carol 1',
      'start alice 3',
      'start alice 4',
    ]);
  });

  it('on PostgreSQL runs at most a quarter of the pool at once, and passes errors through', async () => {
    const reads = new PatternReads(registry('postgres', 12));
    const { log, read, release } = recorder();
    const held = ['r1', 'r2', 'r3', 'r4'].map((name, i) => reads.run(`user ${i}`, read(name, true)));
    await new Promise((r) => setTimeout(r, 5));
    expect(log).toEqual(['start r1', 'start r2', 'start r3']);
    release('r1');
    await new Promise((r) => setTimeout(r, 5));
    expect(log).toContain('start r4');
    ['r2', 'r3', 'r4'].forEach(release);
    await Promise.all(held);
    await expect(reads.run('x', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await reads.run('x', read('after'))).toBe('after');
  });
});
