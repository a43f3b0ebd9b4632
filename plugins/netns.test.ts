import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../base/errors.js';
import { failure } from '../base/testutil.js';
import { netnsState } from '../network/netns.js';
import { requireNetns } from './netns.js';

const SELF = '/proc/self/ns/net';
const dir = mkdtempSync(join(tmpdir(), 'berth-netns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('netnsState', () => {
  it('tells a missing path from a plain file', () => {
    const file = join(dir, 'left-behind');
    writeFileSync(file, '');
    expect(netnsState(join(dir, 'nothing'))).toBe('missing');
    expect(netnsState(file)).toBe('not-netns');
  });

  it('knows the netns the process runs in by its inode, under any path to it', () => {
    expect(netnsState(SELF)).toBe('own');
    expect(netnsState(`/proc/${process.pid}/ns/net`)).toBe('own');
  });

  it("knows the host's netns when it is not the process's own", () => {
    const hosts = { own: join(dir, 'nothing'), host: `/proc/${process.pid}/ns/net` };
    expect(netnsState(SELF, hosts)).toBe('host');
    expect(netnsState(SELF, { own: join(dir, 'nothing'), host: join(dir, 'nothing') })).toBe('netns');
  });
});

describe('requireNetns', () => {
  it('refuses the own and the host netns with code 4, naming the path and the fix', () => {
    for (const state of ['own', 'host'] as const) {
      const e = failure(() => requireNetns(SELF, state));
      expect(e.code).toBe(ErrorCode.InvalidEnvironment);
      expect(e.msg).toMatch(new RegExp(`^CNI_NETNS ${SELF} is the .*network namespace.*, not a container's$`));
      expect(e.details).toContain('/run/netns/<name>');
    }
    expect(failure(() => requireNetns(SELF)).code).toBe(ErrorCode.InvalidEnvironment);
  });

  it('takes a container netns', () => {
    expect(() => requireNetns('/run/netns/c1', 'netns')).not.toThrow();
  });
});
