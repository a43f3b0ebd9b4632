import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from './sha256.js';

const oracle = (text: string) => createHash('sha256').update(text).digest('hex');

describe('sha256Hex', () => {
  it('gives the FIPS 180-4 example digests', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it("agrees with node:crypto at every length around the padding's block boundaries, and on UTF-8", () => {
    for (let n = 0; n <= 200; n++) {
      const text = randomBytes(n).toString('latin1');
      expect(sha256Hex(text), `length ${n}`).toBe(oracle(text));
    }
    for (const text of ['net\0ctr\0eth0', 'ünïcödé 网络 🚢', 'x'.repeat(10_000)]) {
      expect(sha256Hex(text)).toBe(oracle(text));
    }
  });
});
