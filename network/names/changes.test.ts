import { describe, expect, it } from 'vitest';
import { ChangeTracker } from './changes.js';

describe('ChangeTracker', () => {
  it('reads a folder first seen, then again only when its mtime moves', () => {
    const t = new ChangeTracker(100);
    expect(t.changed('web', 1000, 5000)).toBe(true);
    expect(t.changed('web', 1000, 5250)).toBe(false);
    expect(t.changed('web', 5200, 5500)).toBe(true);
    expect(t.changed('web', 5200, 5750)).toBe(false);
  });

  it('reads again a folder whose mtime was too recent when it was read, though the mtime stayed', () => {
    const t = new ChangeTracker(100);
    expect(t.changed('web', 5000, 5010)).toBe(true);
    expect(t.settled('web')).toBeUndefined();
    expect(t.unsettled).toBe(true);
    // A write in the same tick as the read above leaves mtime 5000: read again.
    expect(t.changed('web', 5000, 5250)).toBe(true);
    expect(t.changed('web', 5000, 5500)).toBe(false);
    expect(t.settled('web')).toBe(5000);
    expect(t.unsettled).toBe(false);
  });

  it('tells a folder that went, once, and retain() forgets and names the ones not listed', () => {
    const t = new ChangeTracker(100);
    t.changed('web', 1000, 5000);
    t.changed('db', 1000, 5000);
    expect(t.changed('web', undefined, 5250)).toBe(true);
    expect(t.changed('web', undefined, 5500)).toBe(false);
    expect(t.retain([])).toEqual(['db']);
    expect(t.changed('db', 1000, 5750)).toBe(true);
  });
});
