import { validateIfName } from '../../base/names.js';
import { MACVLAN_MODES, type MacvlanMode } from '../../network/config.js';
import { DEFAULT_STATE_DIR } from '../../network/state.js';
import { allInOneDnsConf } from '../dns/config.js';
import { bool, dnsOf, invalid, ipamTypeOf, mac, mtuOf, str } from '../keys.js';
import type { CniArgs, CniDns, NetConf } from '../types.js';

/** berth-macvlan's config: the reference macvlan plugin's keys with its defaults, plus berth's own. */
export interface MacvlanConf {
  /** The parent device; '' takes the device of the default route, as the reference does. */
  readonly master: string;
  readonly mode: MacvlanMode;
  /** 0: the parent's. */
  readonly mtu: number;
  /** The master is in the container's netns, not the host's. */
  readonly linkInContainer: boolean;
  readonly mac?: string;
  /** Absent: a layer-2-only interface, up without addresses. */
  readonly ipamType?: string;
  readonly dns?: CniDns;
  /** berth's own: where the attachment's record lives. */
  readonly stateDir: string;
  /** berth's own: also bring up lo in the container. */
  readonly loopback: boolean;
}

type Raw = Readonly<Record<string, unknown>>;

/** berth-macvlan's keys, all at the top of its config. */
export function parseMacvlanConf(config: NetConf, args: CniArgs): MacvlanConf {
  return macvlanConfOf(config.raw, config, args, '');
}

/**
 * The reference's link keys (master, mode, mtu, linkInContainer, mac) from `link`, which is the
 * config itself for berth-macvlan and its "macvlan" object for the all-in-one plugin (`where`
 * names that object in errors); ipam, dns, stateDir and loopback from the top.
 */
export function macvlanConfOf(link: Raw, config: NetConf, args: CniArgs, where: string): MacvlanConf {
  const key = (k: string) => `${where}${k}`;
  const master = str(link, 'master') ?? '';
  if (master) validateIfName(master, `"${key('master')}"`);
  const mode = link.mode ?? '';
  if (mode !== '' && !MACVLAN_MODES.includes(mode as MacvlanMode)) {
    throw invalid(
      `unknown macvlan mode ${JSON.stringify(mode)} in "${key('mode')}"`,
      `use ${MACVLAN_MODES.map((m) => JSON.stringify(m)).join(', ')}, or leave it out for "bridge"`,
    );
  }
  const mtu = mtuOf(
    link,
    'mtu',
    key('mtu'),
    "give a whole number from 68 to the parent's MTU, or leave it out for the parent's",
  );
  // The reference's order: the config's "mac", then CNI_ARGS MAC, then runtimeConfig.mac, the last one given wins.
  let chosenMac = str(link, 'mac');
  if (chosenMac) chosenMac = mac(chosenMac, `"${key('mac')}"`);
  const argMac = args.get('MAC');
  if (argMac) chosenMac = mac(argMac, 'CNI_ARGS MAC');
  const rtMac = config.runtimeConfig.mac;
  if (typeof rtMac === 'string' && rtMac) chosenMac = mac(rtMac, 'runtimeConfig.mac');

  const raw = config.raw;
  const ipamType = ipamTypeOf(raw);
  const dns = dnsOf(raw);
  return {
    master,
    mode: (mode || 'bridge') as MacvlanMode,
    mtu,
    linkInContainer: bool(link, 'linkInContainer'),
    ...(chosenMac ? { mac: chosenMac } : {}),
    ...(ipamType ? { ipamType } : {}),
    ...(dns ? { dns } : {}),
    stateDir: str(raw, 'stateDir') ?? DEFAULT_STATE_DIR,
    loopback: bool(raw, 'loopback'),
  };
}

/** Keys of a bridge of the config's own, and the macvlan's own keys at the wrong level: refused beside "macvlan". */
const NOT_BESIDE_MACVLAN = [
  'bridge',
  'isGateway',
  'isDefaultGateway',
  'forceAddress',
  'ipMasq',
  'ipMasqBackend',
  'hairpinMode',
  'promiscMode',
  'enabledad',
  'disableContainerInterface',
  'portIsolation',
  'isolate',
  'vlan',
  'vlanTrunk',
  'macspoofchk',
  'master',
  'mode',
  'mtu',
  'linkInContainer',
  'mac',
];

/**
 * The all-in-one plugin's "macvlan" object, which makes its network a macvlan one instead of a
 * bridge: {"type": "berth", "macvlan": {"master": "eth0", "mode": "bridge"}, "ipam": {...}}.
 * Undefined without one. Published ports and names are refused: no host port leads to a macvlan's
 * container, and its gateway, where berth's name service would answer, is the LAN's router.
 */
export function parseMacvlanSection(config: NetConf, args: CniArgs): MacvlanConf | undefined {
  const raw = config.raw;
  const section = raw.macvlan;
  if (section === undefined || section === null) return undefined;
  if (typeof section !== 'object' || Array.isArray(section)) {
    throw invalid(
      `"macvlan" must be an object, not ${JSON.stringify(section)}`,
      'e.g. "macvlan": {"master": "eth0", "mode": "bridge"}, or {} for the device of the default route',
    );
  }
  const beside = NOT_BESIDE_MACVLAN.filter((k) => raw[k] !== undefined);
  if (beside.length > 0) {
    throw invalid(
      `with "macvlan", the config may not give ${beside.map((k) => JSON.stringify(k)).join(', ')} at its top`,
      'a macvlan network has no bridge or masquerade; master, mode, mtu, linkInContainer and mac go inside "macvlan"',
    );
  }
  if (allInOneDnsConf(raw)) {
    throw invalid(
      `names ("dns": true or a domainName) on macvlan network ${config.name}: berth's name service answers on a bridge's gateway on this host, and a macvlan network's gateway is the LAN's router`,
      'leave names out; a "dns" of nameservers, search and options alone goes into the result',
    );
  }
  const ports = config.runtimeConfig.portMappings;
  if (Array.isArray(ports) && ports.length > 0) {
    throw invalid(
      `portMappings on macvlan network ${config.name}: its containers are on the LAN with addresses of their own, and no host port leads to them`,
      'reach the container at its own address, or publish ports of a bridge network',
    );
  }
  return macvlanConfOf(section as Raw, config, args, 'macvlan.');
}

/** Whether the config has a "macvlan" object, read without judging it (DEL must not fail on what failed ADD). */
export const hasMacvlanSection = (config: NetConf): boolean =>
  typeof config.raw.macvlan === 'object' && config.raw.macvlan !== null;
