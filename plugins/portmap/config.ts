import { BerthError, ErrorCode } from '../../base/errors.js';
import { mergePortSpecs, type PortSpec, validatePortSpec } from '../../network/portspec.js';
import { DEFAULT_STATE_DIR } from '../../network/state.js';
import type { NetConf } from '../types.js';

/** The reference portmap plugin's keys, with its defaults, plus berth's `stateDir`. */
export interface PortmapConf {
  /** Masquerade hairpin and localhost traffic to published ports (the reference's default: true). */
  readonly snat: boolean;
  readonly backend?: 'nftables' | 'iptables';
  readonly stateDir: string;
  /** From the `portMappings` capability, each once; empty when the runtime sent none (DEL needs none). */
  readonly specs: readonly PortSpec[];
}

const invalid = (msg: string, fix: string) => new BerthError(ErrorCode.InvalidConfig, msg, fix);
const unsupported = (msg: string, fix: string) => new BerthError(ErrorCode.UnsupportedField, msg, fix);

export function parsePortmapConf(config: NetConf): PortmapConf {
  const raw = config.raw;
  const snat = raw.snat ?? true;
  if (typeof snat !== 'boolean')
    throw invalid(`"snat" must be true or false, not ${JSON.stringify(snat)}`, 'leave it out for true');
  if (raw.masqAll === true) {
    throw unsupported(
      'berth-portmap does not support "masqAll": true',
      'leave it out: berth masquerades hairpin and localhost traffic only, as the reference by default',
    );
  }
  const mark = raw.markMasqBit;
  if (mark !== undefined && (typeof mark !== 'number' || !Number.isInteger(mark) || mark < 0 || mark > 31)) {
    throw invalid(
      `"markMasqBit" ${JSON.stringify(mark)} is not a bit number`,
      'give 0 to 31; berth matches DNATed connections by conntrack state, so the bit is not needed',
    );
  }
  if (mark !== undefined && raw.externalSetMarkChain !== undefined) {
    throw invalid(
      '"markMasqBit" and "externalSetMarkChain" are both set',
      'set at most one, as the reference requires',
    );
  }
  for (const key of ['conditionsV4', 'conditionsV6'] as const) {
    const c = raw[key];
    if (c !== undefined && !(Array.isArray(c) && c.length === 0)) {
      throw unsupported(
        `berth-portmap does not support "${key}" (${JSON.stringify(c)})`,
        'remove it: berth publishes through one map lookup, without per-container match conditions',
      );
    }
  }
  const backend = raw.backend;
  if (backend !== undefined && backend !== 'nftables' && backend !== 'iptables') {
    throw invalid(
      `invalid "backend" ${JSON.stringify(backend)}`,
      'use "nftables" or "iptables", or leave it out to detect',
    );
  }
  const stateDir = raw.stateDir ?? DEFAULT_STATE_DIR;
  if (typeof stateDir !== 'string' || stateDir === '')
    throw invalid(`"stateDir" must be a path, not ${JSON.stringify(stateDir)}`, 'e.g. /var/lib/berth');
  const mappings = config.runtimeConfig.portMappings ?? [];
  if (!Array.isArray(mappings)) {
    throw invalid(
      'runtimeConfig.portMappings must be a list',
      'e.g. [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]',
    );
  }
  const specs = mappings.map((m, i) => {
    if (!m || typeof m !== 'object')
      throw invalid(
        `runtimeConfig.portMappings[${i}] is not an object`,
        'give {"hostPort", "containerPort", "protocol", "hostIP"}',
      );
    const { hostPort, containerPort, protocol, hostIP } = m as Record<string, unknown>;
    try {
      return validatePortSpec({
        hostPort: hostPort as number,
        containerPort: containerPort as number,
        ...(protocol !== undefined && protocol !== '' ? { protocol: protocol as string } : {}),
        ...(typeof hostIP === 'string' ? { hostIP } : {}),
      });
    } catch (e) {
      if (e instanceof BerthError)
        throw new BerthError(e.code, `runtimeConfig.portMappings[${i}]: ${e.msg}`, e.details);
      throw e;
    }
  });
  return { snat, ...(backend ? { backend } : {}), stateDir, specs: mergePortSpecs(specs) };
}

/** What DEL needs, read without judging the rest (DEL after a failed ADD succeeds); the records hold the mappings. */
export function parsePortmapConfForDel(config: NetConf): PortmapConf {
  const raw = config.raw;
  const backend = raw.backend === 'nftables' || raw.backend === 'iptables' ? raw.backend : undefined;
  const stateDir = typeof raw.stateDir === 'string' && raw.stateDir !== '' ? raw.stateDir : DEFAULT_STATE_DIR;
  return { snat: true, stateDir, specs: [], ...(backend ? { backend } : {}) };
}
