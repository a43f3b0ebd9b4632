import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import { parseEtcdUrls } from './etcd.js';
import { ClusterKeys } from './model.js';

describe('ClusterKeys', () => {
  const keys = new ClusterKeys();

  it('puts networks and blocks under the prefix and reads them back', () => {
    expect(keys.network('web')).toBe('/berth/networks/web');
    expect(keys.block('web', '10.240.3.0/24')).toBe('/berth/blocks/web/10.240.3.0-24');
    expect(keys.parseBlock('/berth/blocks/web/10.240.3.0-24')).toEqual({ network: 'web', block: '10.240.3.0/24' });
    expect(keys.parseNetwork('/berth/networks/web')).toBe('web');
  });

  it('reads no other key as one of its own', () => {
    expect(keys.parseBlock('/berth/networks/web')).toBeUndefined();
    expect(keys.parseBlock('/other/blocks/web/10.240.3.0-24')).toBeUndefined();
    expect(keys.parseNetwork('/berth/networks-changed')).toBeUndefined();
    expect(keys.parseNetwork('/berth/networks/a/b')).toBeUndefined();
    expect(new ClusterKeys('/t1/').network('x')).toBe('/t1/networks/x');
  });
});

describe('parseEtcdUrls', () => {
  it('takes http, https and unix URLs, several comma-separated', () => {
    expect(parseEtcdUrls('http://10.0.0.1:2379')).toEqual(['http://10.0.0.1:2379']);
    expect(parseEtcdUrls('https://a:2379/, http://b:2379')).toEqual(['https://a:2379', 'http://b:2379']);
    expect(parseEtcdUrls('unix:/run/etcd.sock')).toEqual(['unix:/run/etcd.sock']);
  });

  it.each(['', '10.0.0.1:2379', 'ftp://x', 'http://'])('refuses %j with code 7', (url) => {
    expect(failure(() => parseEtcdUrls(url))).toMatchObject({ code: 7, details: expect.stringContaining('http://') });
  });
});
