import { RateMeter } from '../../lib/admin/rate-meter.js';

describe('RateMeter', () => {
  it('measures over a sliding window: the rate of the last window only', () => {
    let count = 0;
    const meter = new RateMeter(() => count, 10_000, 0);
    // 50 events per second for 10 seconds, sampled every second.
    for (let s = 1; s <= 10; s++) {
      count += 50;
      meter.sample(s * 1000);
    }
    expect(meter.rate(10_000)).toBe(50);
    // Then 5 per second for 10 more seconds: the old burst leaves the window.
    for (let s = 11; s <= 20; s++) {
      count += 5;
      meter.sample(s * 1000);
    }
    expect(meter.rate(20_000)).toBe(5);
    // Nothing for 10 seconds: 0.
    for (let s = 21; s <= 30; s++) meter.sample(s * 1000);
    expect(meter.rate(30_000)).toBe(0);
  });

  it('right after start, divides by at least one second', () => {
    let count = 0;
    const meter = new RateMeter(() => count, 10_000, 0);
    count = 30;
    expect(meter.rate(200)).toBe(30);
    expect(meter.rate(3000)).toBe(10);
  });
});
