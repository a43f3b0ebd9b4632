import { describe, expect, it } from 'vitest';
import { ClientLimiter } from './limit.js';

describe('ClientLimiter', () => {
  it('serves a burst, then the rate, per client', () => {
    const l = new ClientLimiter(100, 10);
    let served = 0;
    for (let i = 0; i < 50; i++) if (l.take('10.0.0.2', 1000)) served++;
    expect(served).toBe(10);
    expect(l.take('10.0.0.3', 1000)).toBe(true);
    expect(l.take('10.0.0.2', 1005)).toBe(false);
    expect(l.take('10.0.0.2', 1010)).toBe(true);
    served = 0;
    for (let t = 1010; t < 2010; t++) if (l.take('10.0.0.2', t)) served++;
    expect(served).toBeGreaterThanOrEqual(99);
    expect(served).toBeLessThanOrEqual(101);
  });

  it('keeps at most maxClients, forgetting the one heard from longest ago', () => {
    const l = new ClientLimiter(1, 1, 2);
    expect(l.take('a', 0)).toBe(true);
    expect(l.take('b', 0)).toBe(true);
    expect(l.take('a', 1)).toBe(false);
    expect(l.take('c', 2)).toBe(true);
    expect(l.clients).toBe(2);
    // a was kept, still empty; b was forgotten, so it comes back with a full bucket.
    expect(l.take('a', 3)).toBe(false);
    expect(l.take('b', 3)).toBe(true);
  });
});
