import { describe, expect, it } from 'vitest';
import { parsePublish, parsePublishList } from './ports.js';
import { UsageError } from './usage.js';

describe('parsePublish', () => {
  it.each([
    ['8080:80', { protocol: 'tcp', hostPort: 8080, hostPortEnd: 8080, containerPort: 80, containerPortEnd: 80 }],
    ['5353:53/udp', { protocol: 'udp', hostPort: 5353, hostPortEnd: 5353, containerPort: 53, containerPortEnd: 53 }],
    [
      ' 127.0.0.1:8080:80/SCTP ',
      {
        protocol: 'sctp',
        hostIP: '127.0.0.1',
        hostPort: 8080,
        hostPortEnd: 8080,
        containerPort: 80,
        containerPortEnd: 80,
      },
    ],
    [
      '[::1]:8443:443',
      { protocol: 'tcp', hostIP: '::1', hostPort: 8443, hostPortEnd: 8443, containerPort: 443, containerPortEnd: 443 },
    ],
    [
      '8000-8002:9000-9002',
      { protocol: 'tcp', hostPort: 8000, hostPortEnd: 8002, containerPort: 9000, containerPortEnd: 9002 },
    ],
  ])('reads %j', (text, spec) => {
    expect(parsePublish(text)).toEqual(spec);
  });

  it.each([
    ['80', '-p: invalid port mapping "80"'],
    ['', '-p: invalid port mapping ""'],
    ['0:80', '-p: hostPort 0 is not a port'],
    ['8080:80/icmp', '-p: unknown protocol "icmp"'],
    ['host:8080:80', '-p: hostIP "host" is not an IP address'],
    ['8080-8081:80-82', 'are ranges of different lengths'],
  ])('refuses %j as bad usage, naming the value', (text, message) => {
    expect(() => parsePublish(text)).toThrow(message);
    expect(() => parsePublish(text)).toThrow(UsageError);
  });

  it('says how to write it', () => {
    try {
      parsePublish('80');
      expect.unreachable();
    } catch (e) {
      expect((e as UsageError).details).toMatch(/^write \[HOST_IP:\]HOST_PORT/);
    }
  });
});

describe('parsePublishList', () => {
  it('keeps distinct publications', () => {
    expect(parsePublishList(['8080:80', '8080:80/udp', '127.0.0.1:9090:90', '127.0.0.2:9090:90'])).toHaveLength(4);
    expect(parsePublishList([])).toEqual([]);
  });

  it('takes a -p given twice once', () => {
    expect(parsePublishList(['8080:80', '5353:53/udp', '8080:80/tcp', '0.0.0.0:8080:80'])).toEqual([
      parsePublish('8080:80'),
      parsePublish('5353:53/udp'),
    ]);
  });

  it.each([
    [['8080:80', '8080:81'], '-p 8080:81/tcp and -p 8080:80/tcp publish the same host port'],
    [['8000-8010:80-90', '8005:22'], 'publish the same host port'],
    [['127.0.0.1:8080:80', '8080:81'], 'publish the same host port'],
    [['5353:53/udp', '127.0.0.1:5353:54/udp'], 'publish the same host port'],
  ])('refuses a host port given twice: %j', (specs, message) => {
    expect(() => parsePublishList(specs)).toThrow(message);
    expect(() => parsePublishList(specs)).toThrow(UsageError);
  });
});
