import { describe, expect, it } from 'vitest';
import { formatPublish, parsePublish, parsePublishList } from './ports.js';
import { UsageError } from './usage.js';

describe('parsePublish', () => {
  it.each([
    ['8080:80', { protocol: 'tcp', hostPort: 8080, containerPort: 80 }],
    ['5353:53/udp', { protocol: 'udp', hostPort: 5353, containerPort: 53 }],
    ['9000:9000/SCTP', { protocol: 'sctp', hostPort: 9000, containerPort: 9000 }],
    ['127.0.0.1:8080:80', { protocol: 'tcp', hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80 }],
    ['[::1]:8443:443/tcp', { protocol: 'tcp', hostIP: '::1', hostPort: 8443, containerPort: 443 }],
    ['[fd00:0::7]:1:2', { protocol: 'tcp', hostIP: 'fd00::7', hostPort: 1, containerPort: 2 }],
    ['0.0.0.0:80:80', { protocol: 'tcp', hostPort: 80, containerPort: 80 }],
    ['[::]:80:80', { protocol: 'tcp', hostPort: 80, containerPort: 80 }],
    [
      '8000-8002:9000-9002/udp',
      { protocol: 'udp', hostPort: 8000, hostPortEnd: 8002, containerPort: 9000, containerPortEnd: 9002 },
    ],
    ['65535:1', { protocol: 'tcp', hostPort: 65535, containerPort: 1 }],
  ])('reads %s', (text, spec) => {
    expect(parsePublish(text)).toEqual(spec);
    expect(parsePublish(formatPublish(parsePublish(text)))).toEqual(spec);
  });

  it.each([
    ['80', 'invalid -p "80": expected HOST_PORT:CONTAINER_PORT'],
    ['', 'invalid -p "": expected HOST_PORT:CONTAINER_PORT'],
    [':80', 'invalid -p ":80"'],
    ['0:80', 'host port 0 in -p "0:80" is not a port'],
    ['8080:70000', 'container port 70000 in -p "8080:70000" is not a port'],
    ['8080:80/icmp', 'unknown protocol "icmp"'],
    ['8080:80/tcp/x', 'more than one "/"'],
    ['host:8080:80', 'host address "host" in -p "host:8080:80" is not an IP address'],
    ['1.2.3.4.5:1:2', 'is not an IP address'],
    ['[::1:8080:80', 'closing "]:"'],
    ['a:b', 'invalid host port "a"'],
    ['80:-1', 'invalid container port "-1"'],
    ['8080-8081:80-82', 'are ranges of different lengths'],
    ['9000-8000:1-1001', 'ends before it starts'],
    ['1:2:3:4', 'expected HOST_PORT:CONTAINER_PORT'],
  ])('refuses %j naming the value', (text, message) => {
    expect(() => parsePublish(text)).toThrow(message);
    expect(() => parsePublish(text)).toThrow(UsageError);
  });

  it('says how to write it', () => {
    try {
      parsePublish('80');
      expect.unreachable();
    } catch (e) {
      expect((e as UsageError).details).toContain('[IP:]HOST_PORT:CONTAINER_PORT');
    }
  });
});

describe('parsePublishList', () => {
  it('keeps distinct publications', () => {
    expect(parsePublishList(['8080:80', '8080:80/udp', '127.0.0.1:9090:90', '127.0.0.2:9090:90'])).toHaveLength(4);
  });

  it.each([
    [['8080:80', '8080:81']],
    [['8000-8010:80-90', '8005:22']],
    [['127.0.0.1:8080:80', '8080:81']],
    [['5353:53/udp', '127.0.0.1:5353:54/udp']],
  ])('refuses a host port given twice: %j', (specs) => {
    expect(() => parsePublishList(specs)).toThrow('publish the same host port');
  });
});
