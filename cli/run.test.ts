import { describe, expect, it } from 'vitest';
import { exitStatus } from './run.js';

describe('exitStatus', () => {
  it("is the process's code, or 128 + the signal's number as a shell reports it", () => {
    expect(exitStatus(0, null)).toBe(0);
    expect(exitStatus(7, null)).toBe(7);
    expect(exitStatus(null, 'SIGINT')).toBe(130);
    expect(exitStatus(null, 'SIGKILL')).toBe(137);
    expect(exitStatus(null, 'SIGTERM')).toBe(143);
    expect(exitStatus(null, null)).toBe(1);
  });
});
