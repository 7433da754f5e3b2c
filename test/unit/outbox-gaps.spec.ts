import { OutboxGaps } from '../../lib/changes/database/outbox-gaps.js';

// The ids a PostgreSQL outbox reader moved past without seeing (README "Capture in the
// database"): kept until their rows appear or no transaction can write them any more.
const ranges = (gaps: OutboxGaps) => gaps.ranges.map((g) => [g.from, g.to]);

describe('OutboxGaps', () => {
  it('adds a range only when ids are missing', () => {
    const gaps = new OutboxGaps();
    gaps.add(5, 4, 10n, 0); // the next id followed the cursor: nothing missing
    gaps.add(5, 7, 10n, 0);
    expect(ranges(gaps)).toEqual([[5, 7]]);
  });

  it('a row that appears splits its range, at either edge or in the middle', () => {
    const gaps = new OutboxGaps();
    gaps.add(1, 5, 10n, 0);
    gaps.fill(3);
    expect(ranges(gaps)).toEqual([
      [1, 2],
      [4, 5],
    ]);
    gaps.fill(1);
    gaps.fill(5);
    expect(ranges(gaps)).toEqual([
      [2, 2],
      [4, 4],
    ]);
    gaps.fill(2);
    gaps.fill(4);
    gaps.fill(9); // not a gap: nothing happens
    expect(ranges(gaps)).toEqual([]);
  });

  it('forgets, silently, ranges no transaction running at the read can still fill', () => {
    const gaps = new OutboxGaps();
    gaps.add(1, 1, 100n, 0);
    gaps.add(3, 4, 120n, 0);
    expect(gaps.forget(99n, 0)).toBe(0);
    expect(ranges(gaps)).toHaveLength(2);
    expect(gaps.forget(100n, 0)).toBe(0); // every transaction older than xmax 100 has ended
    expect(ranges(gaps)).toEqual([[3, 4]]);
  });

  it('gives up ranges held too long, and the oldest beyond the count, and says how many', () => {
    const gaps = new OutboxGaps({ maxAge: 1000, max: 2 });
    gaps.add(1, 1, 500n, 0);
    gaps.add(3, 3, 500n, 800);
    gaps.add(5, 5, 500n, 900);
    gaps.add(7, 7, 500n, 950);
    expect(gaps.forget(1n, 1500)).toBe(2); // 1 too old, then 3 the oldest over the count of 2
    expect(ranges(gaps)).toEqual([
      [5, 5],
      [7, 7],
    ]);
  });
});
