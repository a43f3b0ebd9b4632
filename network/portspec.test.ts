import { describe, expect, it } from 'vitest';
import {
  checkConflicts,
  expandPortSpecs,
  formatPortSpec,
  mergePortSpecs,
  parsePortSpec,
  validatePortSpec,
} from './portspec.js';

describe('parsePortSpec', () => {
  it.each([
    ['8080:80', { protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80 }],
    ['5353:53/udp', { protocol: 'udp', hostPort: 5353, hostPortEnd: 5353, containerPort: 53, containerPortEnd: 53 }],
    [
      '127.0.0.1:8080:80',
      {
        protocol: 'tcp',
        hostIP: '127.0.0.1',
        hostPort: 8080,
        hostPortEnd: 8080,
        containerPort: 80,
        containerPortEnd: 80,
      },
    ],
    [
      '[fd00::1]:8443:443/SCTP',
      {
        protocol: 'sctp',
        hostIP: 'fd00::1',
        hostPort: 8443,
        hostPortEnd: 8443,
        containerPort: 443,
        containerPortEnd: 443,
      },
    ],
    [
      '8000-8002:9000-9002/tcp',
      { protocol: 'tcp', hostPort: 8000, hostPortEnd: 8002, containerPort: 9000, containerPortEnd: 9002 },
    ],
    ['0.0.0.0:80:80', { protocol: 'tcp', hostPort: 80, hostPortEnd: 80, containerPort: 80, containerPortEnd: 80 }],
  ])('reads %s', (text, spec) => {
    expect(parsePortSpec(text)).toEqual(spec);
    expect(parsePortSpec(formatPortSpec(parsePortSpec(text)))).toEqual(spec);
  });

  it.each([
    ['80', 'invalid port mapping "80"'],
    ['0:80', 'hostPort 0 is not a port'],
    ['8080:70000', 'containerPort 70000 is not a port'],
    ['8080:80/icmp', 'unknown protocol "icmp"'],
    ['host:8080:80', 'hostIP "host" is not an IP address'],
    ['8080-8081:80-82', 'are ranges of different lengths'],
    ['9000-8000:80', 'ends before it starts'],
    ['a:b', 'invalid host port "a" in "a:b"'],
    ['8080:80/tcp/x', 'invalid port mapping'],
  ])('refuses %j naming the value', (text, message) => {
    expect(() => parsePortSpec(text)).toThrow(message);
  });
});

describe('validatePortSpec', () => {
  it('defaults to tcp and an equal-length container range', () => {
    expect(validatePortSpec({ hostPort: 8000, hostPortEnd: 8001, containerPort: 80 })).toEqual({
      protocol: 'tcp',
      hostPort: 8000,
      hostPortEnd: 8001,
      containerPort: 80,
      containerPortEnd: 81,
    });
  });
  it('refuses a range larger than the cap', () => {
    expect(() => validatePortSpec({ hostPort: 1000, hostPortEnd: 6000, containerPort: 1000 })).toThrow(
      'holds more than 4096 ports',
    );
  });
});

describe('expandPortSpecs', () => {
  it('publishes a spec without hostIP to each family the container has, one mapping per port', () => {
    expect(expandPortSpecs([parsePortSpec('8000-8001:80-81')], ['10.0.0.2', 'fd00::2'])).toEqual([
      { protocol: 'tcp', hostPort: 8000, containerIP: '10.0.0.2', containerPort: 80 },
      { protocol: 'tcp', hostPort: 8001, containerIP: '10.0.0.2', containerPort: 81 },
      { protocol: 'tcp', hostPort: 8000, containerIP: 'fd00::2', containerPort: 80 },
      { protocol: 'tcp', hostPort: 8001, containerIP: 'fd00::2', containerPort: 81 },
    ]);
  });
  it('publishes a hostIP only to the container address of its family, and refuses when there is none', () => {
    expect(expandPortSpecs([parsePortSpec('127.0.0.1:8080:80')], ['10.0.0.2', 'fd00::2'])).toEqual([
      { protocol: 'tcp', hostIP: '127.0.0.1', hostPort: 8080, containerIP: '10.0.0.2', containerPort: 80 },
    ]);
    expect(() => expandPortSpecs([parsePortSpec('[fd00::1]:8080:80')], ['10.0.0.2'])).toThrow(
      'no container address of the family of fd00::1',
    );
  });
  it('refuses hostIP ::1 naming the spec, since NAT cannot publish it', () => {
    expect(() =>
      expandPortSpecs([parsePortSpec('8080:80'), parsePortSpec('[::1]:8443:443')], ['10.0.0.2', 'fd00::2']),
    ).toThrow(
      expect.objectContaining({
        code: 7,
        msg: 'hostIP ::1 of [::1]:8443:443/tcp cannot be published by NAT',
        details: expect.stringContaining('publish on 127.0.0.1'),
      }),
    );
  });
});

describe('mergePortSpecs', () => {
  it('keeps a repeated mapping once, where it first stands, in whatever form it was repeated', () => {
    const specs = [
      validatePortSpec({ hostPort: 8080, containerPort: 80 }),
      validatePortSpec({ hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' }),
      validatePortSpec({ hostPort: 8080, containerPort: 80, protocol: 'TCP', hostIP: '0.0.0.0' }),
      validatePortSpec({ hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' }),
      validatePortSpec({ hostPort: 8080, containerPort: 80, hostIP: '::' }),
    ];
    expect(mergePortSpecs(specs).map(formatPortSpec)).toEqual(['8080:80/tcp', '127.0.0.1:5353:53/udp']);
    expect(mergePortSpecs([])).toEqual([]);
  });

  it('keeps one host port with two targets, for checkConflicts to refuse naming the port', () => {
    const merged = mergePortSpecs(['8080:80', '8080:81', '8080:80'].map(parsePortSpec));
    expect(merged.map(formatPortSpec)).toEqual(['8080:80/tcp', '8080:81/tcp']);
    expect(() => checkConflicts('b', expandPortSpecs(merged, ['10.0.0.3']), [])).toThrow(
      expect.objectContaining({
        code: 7,
        msg: 'host port *:8080/tcp is asked twice, for 10.0.0.3:80 and for 10.0.0.3:81',
      }),
    );
  });
});

describe('checkConflicts', () => {
  const holders = [
    {
      owner: 'a',
      label: 'container a',
      mappings: expandPortSpecs([parsePortSpec('8080:80'), parsePortSpec('127.0.0.1:9000:90/udp')], ['10.0.0.2']),
    },
  ];
  it('refuses a port held by another owner on every address, naming who holds it', () => {
    expect(() =>
      checkConflicts('b', expandPortSpecs([parsePortSpec('127.0.0.1:8080:80')], ['10.0.0.3']), holders),
    ).toThrow('host port 127.0.0.1:8080/tcp is already published by container a (*:8080/tcp -> 10.0.0.2:80)');
    expect(() => checkConflicts('b', expandPortSpecs([parsePortSpec('9000:90/udp')], ['10.0.0.3']), holders)).toThrow(
      'host port *:9000/udp is already published by container a (127.0.0.1:9000/udp -> 10.0.0.2:90)',
    );
  });
  it('lets the same port through on another protocol, another specific address, another family or the same owner', () => {
    const ok = (spec: string, ips: string[], owner = 'b') =>
      checkConflicts(owner, expandPortSpecs([parsePortSpec(spec)], ips), holders);
    expect(() => ok('8080:80/udp', ['10.0.0.3'])).not.toThrow();
    expect(() => ok('10.1.1.1:9000:90/udp', ['10.0.0.3'])).not.toThrow();
    expect(() => ok('8080:80', ['fd00::3'])).not.toThrow();
    expect(() => ok('8080:80', ['10.0.0.2'], 'a')).not.toThrow();
  });
  it('refuses one host port asked twice for different targets in one request, naming both', () => {
    const wanted = (...specs: string[]) => expandPortSpecs(specs.map(parsePortSpec), ['10.0.0.3', 'fd00::3']);
    expect(() => checkConflicts('b', wanted('9100:80', '9100:81'), [])).toThrow(
      expect.objectContaining({
        code: 7,
        msg: 'host port *:9100/tcp is asked twice, for 10.0.0.3:80 and for 10.0.0.3:81',
        details: 'map each host address, port and protocol once',
      }),
    );
    expect(() => checkConflicts('b', wanted('9100:80', '127.0.0.1:9100:81'), [])).toThrow(
      'host port 127.0.0.1:9100/tcp is asked twice, for 10.0.0.3:80 and for 10.0.0.3:81',
    );
    // The same target written twice (a range and a port inside it) is one mapping, not a clash.
    expect(() => checkConflicts('b', wanted('9100-9101:80-81', '9100:80'), [])).not.toThrow();
  });
});
