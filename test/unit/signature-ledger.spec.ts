// PROTOCOL.md section 7: each publish signature is accepted once, and the memory of accepted
// signatures holds only those still inside their window.
import { MemorySignatureLedger } from '../../lib/adapters/signature-ledger.js';
import { signatureKey, signPublish, verifyPublishSignature } from '../../lib/publish/sign.js';

describe('MemorySignatureLedger', () => {
  it('accepts a key once until it expires', async () => {
    const ledger = new MemorySignatureLedger();
    expect(await ledger.claim('a', 61_000, 0)).toBe(true);
    expect(await ledger.claim('a', 61_000, 30_000)).toBe(false);
    expect(await ledger.claim('b', 61_000, 30_000)).toBe(true);
  });

  it('keeps only the keys of the last window: 10,000 claims, then a minute later one more, hold 1 entry', async () => {
    const ledger = new MemorySignatureLedger();
    for (let i = 0; i < 10_000; i++) await ledger.claim(`k${i}`, 61_000 + i, i);
    expect(ledger.size).toBe(10_000);
    expect(await ledger.claim('late', 200_000, 80_000)).toBe(true);
    expect(ledger.size).toBe(1);
  });
});

describe('signature timestamps and keys', () => {
  const body = Buffer.from('{"room":"r","event":"e","data":1}');
  const at = 1_700_000_000_000;

  it('t may be at most 5 seconds ahead of the server clock and 60 seconds behind it', () => {
    expect(verifyPublishSignature(signPublish('s', body, at + 5_000), body, ['s'], at).problem).toBeUndefined();
    expect(verifyPublishSignature(signPublish('s', body, at + 6_000), body, ['s'], at).problem).toBe('expired');
    expect(verifyPublishSignature(signPublish('s', body, at - 60_000), body, ['s'], at).problem).toBeUndefined();
    expect(verifyPublishSignature(signPublish('s', body, at - 61_000), body, ['s'], at).problem).toBe('expired');
  });

  it('names a request by its t and body, whichever secret signed it', () => {
    const key = signatureKey(['new', 'old'], 1_700_000_000, body);
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(signatureKey(['new', 'other'], 1_700_000_000, body)).toBe(key);
    expect(signatureKey(['new', 'old'], 1_700_000_001, body)).not.toBe(key);
    expect(signatureKey(['new', 'old'], 1_700_000_000, Buffer.from('{}'))).not.toBe(key);
  });
});
