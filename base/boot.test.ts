import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { BOOT_ID_FILE, bootId, ofThisBoot, setBootId } from './boot.js';

describe('bootId', () => {
  afterEach(() => setBootId(undefined));

  it("is the kernel's boot ID, and a test may play another boot", () => {
    expect(bootId()).toBe(readFileSync(BOOT_ID_FILE, 'utf8').trim());
    expect(bootId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    setBootId('later-boot');
    expect(bootId()).toBe('later-boot');
  });

  it("takes a record of this boot, or of none (written before records carried it), as this boot's", () => {
    setBootId('b2');
    expect(ofThisBoot({ boot: 'b2' })).toBe(true);
    expect(ofThisBoot({})).toBe(true);
    expect(ofThisBoot({ boot: 'b1' })).toBe(false);
  });
});
