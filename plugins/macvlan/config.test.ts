import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import { parseNetConf } from '../skel/config.js';
import { hasMacvlanSection, parseMacvlanConf, parseMacvlanSection } from './config.js';

const conf = (extra: Record<string, unknown>, type = 'berth-macvlan') =>
  parseNetConf({ cniVersion: '1.0.0', name: 'lan', type, ipam: { type: 'berth-ipam' }, ...extra }, 'ADD');
const parse = (extra: Record<string, unknown> = {}, args: [string, string][] = []) =>
  parseMacvlanConf(conf(extra), new Map(args));
const section = (extra: Record<string, unknown>, args: [string, string][] = []) =>
  parseMacvlanSection(conf(extra, 'berth'), new Map(args));

describe('parseMacvlanConf', () => {
  it("takes the reference plugin's defaults: the default route's device, bridge mode, the parent's MTU", () => {
    expect(parse()).toEqual({
      master: '',
      mode: 'bridge',
      mtu: 0,
      linkInContainer: false,
      ipamType: 'berth-ipam',
      stateDir: '/var/lib/berth',
      loopback: false,
    });
  });

  it('reads master, mode, mtu, linkInContainer, dns and no ipam (layer 2 only)', () => {
    expect(
      parse({ master: 'eth1', mode: 'vepa', mtu: 1400, linkInContainer: true, ipam: null, dns: { search: ['lan'] } }),
    ).toEqual({
      master: 'eth1',
      mode: 'vepa',
      mtu: 1400,
      linkInContainer: true,
      dns: { search: ['lan'] },
      stateDir: '/var/lib/berth',
      loopback: false,
    });
    expect(parse({ mode: '' }).mode).toBe('bridge');
  });

  it('takes the MAC from the config, then CNI_ARGS MAC, then runtimeConfig.mac, the last given winning', () => {
    expect(parse({ mac: '02:00:00:00:00:0A' }).mac).toBe('02:00:00:00:00:0a');
    expect(parse({ mac: '02:00:00:00:00:0a' }, [['MAC', '02:00:00:00:00:0b']]).mac).toBe('02:00:00:00:00:0b');
    expect(parse({ runtimeConfig: { mac: '02:00:00:00:00:0c' } }, [['MAC', '02:00:00:00:00:0b']]).mac).toBe(
      '02:00:00:00:00:0c',
    );
  });

  it.each([
    [{ mode: 'source' }, 'unknown macvlan mode "source" in "mode"'],
    [{ mode: 'passthrough' }, 'unknown macvlan mode "passthrough" in "mode"'],
    [{ master: 'eth0/1' }, 'invalid "master" "eth0/1"'],
    [{ master: 7 }, '"master" must be a string, not 7'],
    [{ mtu: -1 }, 'invalid "mtu" -1'],
    [{ mtu: 1500.5 }, 'invalid "mtu" 1500.5'],
    [{ linkInContainer: 'yes' }, '"linkInContainer" must be true or false, not "yes"'],
    [{ mac: 'zz' }, 'invalid MAC address "zz" in "mac"'],
    [{ ipam: 'host-local' }, '"ipam" must be an object'],
  ])('refuses %j with code 7, naming the value', (extra, msg) => {
    const e = failure(() => parse(extra));
    expect(e.code).toBe(7);
    expect(e.msg).toContain(msg);
  });
});

describe('the all-in-one plugin\'s "macvlan"', () => {
  it('is absent without the key, and a bridge config stays a bridge config', () => {
    expect(section({})).toBeUndefined();
    expect(hasMacvlanSection(conf({}))).toBe(false);
    expect(hasMacvlanSection(conf({ macvlan: { mode: 7 } }))).toBe(true);
  });

  it('reads the link keys inside it and the rest beside it', () => {
    expect(
      section({ macvlan: { master: 'eth0', mode: 'private', mtu: 1400 }, stateDir: '/tmp/s', loopback: true }),
    ).toEqual({
      master: 'eth0',
      mode: 'private',
      mtu: 1400,
      linkInContainer: false,
      ipamType: 'berth-ipam',
      stateDir: '/tmp/s',
      loopback: true,
    });
    expect(section({ macvlan: {} })).toMatchObject({ master: '', mode: 'bridge' });
    expect(section({ macvlan: {}, runtimeConfig: { portMappings: [] } })).toBeDefined();
    expect(section({ macvlan: {}, dns: { nameservers: ['192.168.1.1'] } })?.dns).toEqual({
      nameservers: ['192.168.1.1'],
    });
  });

  it.each([
    [{ macvlan: 'eth0' }, '"macvlan" must be an object, not "eth0"'],
    [
      { macvlan: {}, ipMasq: true, bridge: 'cni0' },
      'with "macvlan", the config may not give "bridge", "ipMasq" at its top',
    ],
    [{ macvlan: {}, master: 'eth0' }, 'with "macvlan", the config may not give "master" at its top'],
    [{ macvlan: { mode: 'x' } }, 'unknown macvlan mode "x" in "macvlan.mode"'],
    [{ macvlan: { mtu: 9 } }, 'invalid "macvlan.mtu" 9'],
    [{ macvlan: {}, dns: true }, 'names ("dns": true or a domainName) on macvlan network lan'],
    [{ macvlan: {}, dns: { domainName: 'lan.test' } }, 'names ("dns": true or a domainName) on macvlan network lan'],
    [
      { macvlan: {}, runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] } },
      'portMappings on macvlan network lan: its containers are on the LAN with addresses of their own',
    ],
  ])('refuses %j with code 7, naming the value', (extra, msg) => {
    const e = failure(() => section(extra));
    expect(e.code).toBe(7);
    expect(e.msg).toContain(msg);
  });
});
