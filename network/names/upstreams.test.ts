import { describe, expect, it } from 'vitest';
import { upstreamsFrom } from './upstreams.js';

describe('upstreamsFrom', () => {
  it('takes the nameservers in order, without repeats or what is no address', () => {
    const text =
      '# generated\nsearch example.org\nnameserver 192.0.2.1\nnameserver fd00::53\nnameserver 192.0.2.1\nnameserver bogus\n';
    expect(upstreamsFrom(text)).toEqual(['192.0.2.1', 'fd00::53']);
  });

  it("replaces systemd-resolved's stub by the upstreams it uses, in its place", () => {
    const host = 'nameserver 192.0.2.9\nnameserver 127.0.0.53\noptions edns0 trust-ad\n';
    const systemd = 'nameserver 198.51.100.1\nnameserver 198.51.100.2\nnameserver 127.0.0.53\n';
    expect(upstreamsFrom(host, systemd)).toEqual(['192.0.2.9', '198.51.100.1', '198.51.100.2']);
  });

  it('keeps the stub when systemd-resolved wrote no upstreams file: the service runs in the host netns', () => {
    expect(upstreamsFrom('nameserver 127.0.0.53\n')).toEqual(['127.0.0.53']);
  });

  it('is empty for a file without nameservers', () => {
    expect(upstreamsFrom('search example.org\n')).toEqual([]);
  });
});
