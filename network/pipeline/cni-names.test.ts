import { describe, expect, it } from 'vitest';
import { attachmentOwnerId, cniEndpointId, cniEndpointName, hostVethName } from './cni-names.js';

describe("a CNI attachment's names", () => {
  it('are stable, derived from network, container ID and ifname alone', () => {
    expect(hostVethName('net', 'ctr1', 'eth0')).toMatch(/^veth[0-9a-f]{11}$/);
    expect(hostVethName('net', 'ctr1', 'eth0')).toBe(hostVethName('net', 'ctr1', 'eth0'));
    expect(hostVethName('net', 'ctr1', 'eth1')).not.toBe(hostVethName('net', 'ctr1', 'eth0'));
    expect(attachmentOwnerId('net', 'ctr1', 'eth0')).toBe('net/ctr1/eth0');
    expect(cniEndpointId('net', 'ctr1', 'eth0')).toMatch(/^[0-9a-f]{12}$/);
  });

  it('name the endpoint <containerId>.<ifname>, or by a hash when that is no record name', () => {
    expect(cniEndpointName('net', 'ctr1', 'eth0')).toBe('ctr1.eth0');
    expect(cniEndpointName('net', 'ctr1', 'eth@0')).toMatch(/^cni-[0-9a-f]{24}$/);
    expect(cniEndpointName('net', 'c'.repeat(200), 'eth0')).toMatch(/^cni-[0-9a-f]{24}$/);
  });
});
