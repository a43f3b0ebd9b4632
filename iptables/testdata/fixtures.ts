import { type NormalizedRules, normalizeRules, type Owner } from '../model.js';

export const NET: Owner = { kind: 'network', id: 'net1' };
export const NET2: Owner = { kind: 'network', id: 'net2' };
export const CTR: Owner = { kind: 'container', id: '3f2a9c1e7b' };

/** Docker's default: a bridge with one subnet, isolated, the whole subnet masqueraded. */
export const networkMasq: NormalizedRules = normalizeRules({
  bridges: [{ name: 'berth0', subnets: ['10.88.0.0/24'], isolate: true }],
  masquerade: [{ source: '10.88.0.0/24', subnet: '10.88.0.0/24' }],
});

/** A network that opted out of isolation and masquerades per container instead. */
export const networkOpen: NormalizedRules = normalizeRules({
  bridges: [{ name: 'berth1', subnets: ['10.89.0.0/24'], isolate: false }],
});

/** The CNI bridge plugin's way: one container address masqueraded. */
export const container: NormalizedRules = normalizeRules({
  masquerade: [{ source: '10.89.0.5', subnet: '10.89.0.0/24' }],
});

export const networkV6: NormalizedRules = normalizeRules({
  bridges: [{ name: 'berth6', subnets: ['10.90.0.0/24', 'fd00:90::/64'], isolate: true }],
  masquerade: [{ source: 'fd00:90::/64', subnet: 'fd00:90::/64' }],
});

export const containerV6: NormalizedRules = normalizeRules({
  masquerade: [
    { source: '10.90.0.7', subnet: '10.90.0.0/24' },
    { source: 'FD00:90:0:0::7', subnet: 'fd00:90::/64' },
  ],
});

export const containerPorts: NormalizedRules = normalizeRules({
  masquerade: [{ source: '10.89.0.5', subnet: '10.89.0.0/24' }],
  ports: [
    { protocol: 'tcp', hostPort: 8080, containerIP: '10.89.0.5', containerPort: 80 },
    { protocol: 'udp', hostPort: 5353, containerIP: '10.89.0.5', containerPort: 53 },
    { protocol: 'sctp', hostPort: 9999, containerIP: '10.89.0.5', containerPort: 9999 },
    { protocol: 'tcp', hostIP: '127.0.0.1', hostPort: 8443, containerIP: '10.89.0.5', containerPort: 443 },
    { protocol: 'tcp', hostIP: '192.0.2.10', hostPort: 8081, containerIP: '10.89.0.5', containerPort: 81 },
    { protocol: 'tcp', hostPort: 8080, containerIP: 'fd00:89::5', containerPort: 80 },
    { protocol: 'udp', hostIP: '2001:db8::10', hostPort: 5353, containerIP: 'fd00:89::5', containerPort: 53 },
  ],
});
