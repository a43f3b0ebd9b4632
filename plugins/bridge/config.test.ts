import { describe, expect, it } from 'vitest';
import { failure } from '../../base/testutil.js';
import { parseNetConf } from '../skel/config.js';
import { parseBridgeConf, parseBridgeConfForDel } from './config.js';

const conf = (extra: Record<string, unknown>) =>
  parseNetConf(
    { cniVersion: '1.0.0', name: 'net', type: 'berth-bridge', ipam: { type: 'berth-ipam' }, ...extra },
    'ADD',
  );
const parse = (extra: Record<string, unknown> = {}, args: [string, string][] = []) =>
  parseBridgeConf(conf(extra), new Map(args));

describe('parseBridgeConf', () => {
  it("takes the reference plugin's defaults", () => {
    expect(parse()).toEqual({
      bridge: 'cni0',
      isGateway: false,
      isDefaultGateway: false,
      forceAddress: false,
      ipMasq: false,
      mtu: 0,
      hairpinMode: false,
      promiscMode: false,
      enableDad: false,
      disableContainerInterface: false,
      portIsolation: false,
      isolate: false,
      stateDir: '/var/lib/berth',
      loopback: false,
      ipamType: 'berth-ipam',
    });
  });

  it('makes isDefaultGateway imply isGateway, as the reference does', () => {
    expect(parse({ isDefaultGateway: true })).toMatchObject({ isGateway: true, isDefaultGateway: true });
  });

  it('takes the MAC from CNI_ARGS, args.cni.mac and runtimeConfig.mac, the last given winning', () => {
    expect(parse({}, [['MAC', '02:00:00:00:00:01']]).mac).toBe('02:00:00:00:00:01');
    expect(parse({ args: { cni: { mac: '02:00:00:00:00:02' } } }, [['MAC', '02:00:00:00:00:01']]).mac).toBe(
      '02:00:00:00:00:02',
    );
    expect(
      parse({ args: { cni: { mac: '02:00:00:00:00:02' } }, runtimeConfig: { mac: '02:00:00:00:00:03' } }).mac,
    ).toBe('02:00:00:00:00:03');
  });

  it('keeps the config dns only when it says something', () => {
    expect(parse({ dns: {} }).dns).toBeUndefined();
    expect(parse({ dns: { nameservers: ['10.0.0.53'] } }).dns).toEqual({ nameservers: ['10.0.0.53'] });
  });

  it.each([
    [{ vlan: 100 }, 2, 'berth-bridge does not support "vlan" (100)'],
    [{ macspoofchk: true }, 2, 'berth-bridge does not support "macspoofchk" (true)'],
    [{ vlanTrunk: [{ id: 5 }] }, 2, 'berth-bridge does not support "vlanTrunk"'],
    [{ bridge: 'a-bridge-name-too-long' }, 7, 'invalid bridge name "a-bridge-name-too-long"'],
    [{ mtu: 20 }, 7, 'invalid "mtu" 20'],
    [{ ipMasq: 'yes' }, 7, '"ipMasq" must be true or false, not "yes"'],
    [{ hairpinMode: true, promiscMode: true }, 7, '"hairpinMode" and "promiscMode" are both true'],
    [{ ipMasqBackend: 'pf' }, 7, 'invalid "ipMasqBackend" "pf"'],
    [{ loopback: 'on' }, 7, '"loopback" must be true or false, not "on"'],
    [{ runtimeConfig: { mac: 'zz:00' } }, 7, 'invalid MAC address "zz:00" in runtimeConfig.mac'],
  ])('refuses %j with code %i', (extra, code, msg) => {
    const e = failure(() => parse(extra));
    expect(e.code).toBe(code);
    expect(e.msg).toContain(msg);
  });

  it('accepts the unsupported keys at their neutral values', () => {
    expect(() => parse({ vlan: 0, vlanTrunk: [], preserveDefaultVlan: true, macspoofchk: false })).not.toThrow();
  });
});

describe('parseBridgeConfForDel', () => {
  it('reads what DEL needs from a config ADD refused, so DEL after a failed ADD succeeds', () => {
    const broken = conf({
      hairpinMode: true,
      promiscMode: true,
      vlan: 7,
      mtu: 1,
      stateDir: '/tmp/s',
      loopback: true,
      runtimeConfig: { mac: 'zz' },
    });
    expect(parseBridgeConfForDel(broken)).toEqual({ stateDir: '/tmp/s', loopback: true, ipamType: 'berth-ipam' });
    expect(parseBridgeConfForDel(conf({ ipam: null, stateDir: 5, loopback: 'on' }))).toEqual({
      stateDir: '/var/lib/berth',
      loopback: false,
    });
  });
});
