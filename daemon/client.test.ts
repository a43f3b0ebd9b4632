import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../base/errors.js';
import { controllerOptions } from './client.js';

describe('controllerOptions', () => {
  it("makes the path options absolute against the caller's cwd (the daemon's is /), and leaves the others", () => {
    expect(
      controllerOptions({
        stateDir: 'state',
        netnsDir: './ns',
        etcNetnsDir: '/etc/netns',
        hostNetnsPath: '../host',
        etcd: 'http://127.0.0.1:2379',
        etcdPrefix: 'p',
        firewallBackend: 'iptables',
      }),
    ).toEqual({
      stateDir: join(process.cwd(), 'state'),
      netnsDir: join(process.cwd(), 'ns'),
      etcNetnsDir: '/etc/netns',
      hostNetnsPath: join(process.cwd(), '..', 'host'),
      etcd: 'http://127.0.0.1:2379',
      etcdPrefix: 'p',
      firewallBackend: 'iptables',
    });
    expect(controllerOptions({ stateDir: undefined })).toEqual({});
  });

  it('refuses an option that is no string with code 7 naming it, before anything is sent', () => {
    expect(() => controllerOptions({ stateDir: 42 as unknown as string })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidConfig, msg: 'the controller option stateDir is 42' }),
    );
  });
});
