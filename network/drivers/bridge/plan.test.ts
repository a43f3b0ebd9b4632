import { describe, expect, it } from 'vitest';
import { planBridge } from './plan.js';

const gateway = { isGateway: true, isDefaultGateway: false };

describe('planBridge', () => {
  it('is empty without addresses (layer 2 only)', () => {
    expect(planBridge(gateway, null)).toEqual({ ips: [], routes: [], bridgeAddresses: [] });
  });

  it("gives an address without gateway its subnet's first host when the bridge is the gateway, and puts that on the bridge", () => {
    const plan = planBridge(gateway, { ips: [{ address: '10.1.2.7/24' }], routes: [{ dst: '192.168.0.0/16' }] });
    expect(plan.ips).toEqual([{ address: '10.1.2.7/24', gateway: '10.1.2.1' }]);
    expect(plan.routes).toEqual([{ dst: '192.168.0.0/16', gw: '10.1.2.1' }]);
    expect(plan.bridgeAddresses).toEqual(['10.1.2.1/24']);
  });

  it('adds a default route per family with isDefaultGateway, unless one is there, and keeps 1.1.0 route fields', () => {
    const plan = planBridge(
      { isGateway: true, isDefaultGateway: true },
      {
        ips: [
          { address: '10.1.2.7/24', gateway: '10.1.2.254' },
          { address: 'fd00::7/64', gateway: 'fd00::1' },
        ],
        routes: [{ dst: '0.0.0.0/0', mtu: 1400 }],
      },
    );
    expect(plan.routes).toEqual([
      { dst: '0.0.0.0/0', mtu: 1400, gw: '10.1.2.254' },
      { dst: '::/0', gw: 'fd00::1' },
    ]);
    expect(plan.bridgeAddresses).toEqual(['10.1.2.254/24', 'fd00::1/64']);
  });

  it('leaves the bridge without addresses, and addresses without gateway, when it is not the gateway', () => {
    const plan = planBridge(
      { isGateway: false, isDefaultGateway: false },
      { ips: [{ address: '10.1.2.7/24' }], routes: [] },
    );
    expect(plan).toEqual({ ips: [{ address: '10.1.2.7/24' }], routes: [], bridgeAddresses: [] });
  });
});
