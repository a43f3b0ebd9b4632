import { describe, expect, it } from 'vitest';
import { routeRequest } from './routes.js';

describe('routeRequest', () => {
  it('takes the family from the destination, the gateway, the source or the caller', () => {
    expect(routeRequest({ dst: '10.0.0.0/8' }, 2).family).toBe(4);
    expect(routeRequest({ dst: 'default', gateway: 'fd00::1' }, undefined).family).toBe(6);
    expect(routeRequest({ dst: 'default', src: '10.0.0.1' }, 2).family).toBe(4);
    expect(routeRequest({ dst: 'default', family: 6 }, 2)).toMatchObject({ family: 6, dst: undefined, table: 254 });
  });

  it('refuses what it cannot send, naming the value', () => {
    expect(() => routeRequest({ dst: 'default' }, 2)).toThrow("route 'default' does not say its family");
    expect(() => routeRequest({ dst: '10.0.0.0/8', gateway: 'fd00::1' }, undefined)).toThrow('mixes IPv4 and IPv6');
    expect(() => routeRequest({ dst: 'default', gateway: '10.0.0.1', family: 6 }, undefined)).toThrow(
      'mixes IPv4 and IPv6',
    );
    expect(() => routeRequest({ dst: '10.0.0.0/8', table: -1 }, 2)).toThrow('invalid route table -1');
    expect(() => routeRequest({ dst: '10.0.0.0/8', metric: 1.5 }, 2)).toThrow('invalid route metric 1.5');
    expect(() => routeRequest({ dst: '10.0.0.0/8', scope: 'galaxy' as 'link' }, 2)).toThrow(
      "invalid route scope 'galaxy'",
    );
    expect(() => routeRequest({ dst: 'nowhere' }, 2)).toThrow("invalid route destination 'nowhere'");
    expect(() => routeRequest({ dst: '10.244.2.0/24', dev: 4, onlink: true }, 4)).toThrow(
      "onlink route '10.244.2.0/24' needs both a gateway and a dev",
    );
    expect(() => routeRequest({ dst: '10.244.2.0/24', gateway: '10.244.2.0', onlink: true }, undefined)).toThrow(
      'needs both a gateway and a dev',
    );
  });
});
