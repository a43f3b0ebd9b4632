import { BerthError, ErrorCode, invalidEnv } from '../../base/errors.js';
import { IFNAME_RULE, ifNameProblem, validateContainerId } from '../../base/names.js';
import type { CniArgs, CniCommand } from '../types.js';

export type Environment = Readonly<Record<string, string | undefined>>;

export const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];

/** The CNI_* parameters of one invocation, holding only what its verb takes. */
export type CniEnv =
  | {
      readonly command: 'ADD' | 'CHECK';
      readonly containerId: string;
      readonly netns: string;
      readonly ifName: string;
      readonly args: CniArgs;
      readonly path: readonly string[];
    }
  | {
      readonly command: 'DEL';
      readonly containerId: string;
      readonly netns: string | undefined;
      readonly ifName: string;
      readonly args: CniArgs;
      readonly path: readonly string[];
    }
  | { readonly command: 'STATUS' | 'GC'; readonly path: readonly string[] }
  | { readonly command: 'VERSION' };

type Var = 'CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME' | 'CNI_PATH';

/** The variables the spec (1.1.0, section 2) makes required for each verb, besides CNI_COMMAND. */
const REQUIRED: Readonly<Record<CniCommand, readonly Var[]>> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

export function parseCommand(value: string | undefined): CniCommand {
  if (value === undefined || value === '') {
    throw invalidEnv(
      'CNI_COMMAND is not set',
      `this is a CNI plugin, run by a container runtime with CNI_COMMAND set to one of ${COMMANDS.join(', ')} and the network configuration on stdin`,
    );
  }
  if (!(COMMANDS as readonly string[]).includes(value)) {
    throw invalidEnv(`unknown CNI_COMMAND "${value}"`, `CNI_COMMAND must be one of ${COMMANDS.join(', ')}`);
  }
  return value as CniCommand;
}

export function validateIfName(value: string): string {
  const problem = ifNameProblem(value);
  if (problem)
    throw invalidEnv(value === '' ? `CNI_IFNAME ${problem}` : `CNI_IFNAME "${value}" ${problem}`, IFNAME_RULE);
  return value;
}

/**
 * CNI_ARGS, `K=V;K=V`, as a map. Unknown keys are kept, not refused: runtimes
 * pass K8S_POD_* and IgnoreUnknown to every plugin, and a plugin reads what it
 * knows. Like the reference, a pair is exactly one "=" with a key before it.
 */
export function parseCniArgs(value: string | undefined): CniArgs {
  const args = new Map<string, string>();
  if (value === undefined || value === '') return args;
  for (const pair of value.split(';')) {
    const parts = pair.split('=');
    if (parts.length !== 2 || parts[0] === '') {
      throw invalidEnv(
        `CNI_ARGS has an invalid pair "${pair}"`,
        'CNI_ARGS is KEY=VALUE pairs separated by ";", e.g. "IgnoreUnknown=1;K8S_POD_NAME=web", with one "=" per pair',
      );
    }
    args.set(parts[0]!, parts[1]!);
  }
  return args;
}

/** CNI_PATH, the directories to look for delegated plugins in; empty entries mean nothing and are dropped. */
export function parseCniPath(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(':').filter((dir) => dir !== '');
}

/**
 * The CNI_* variables for a verb: the required ones present (all missing ones
 * named in one error), every value checked. Variables a verb does not take are
 * ignored, since runtimes and parent plugins pass their whole environment down.
 */
export function parseEnv(command: CniCommand, env: Environment): CniEnv {
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  const missing = REQUIRED[command].filter((name) => get(name) === undefined);
  if (missing.length > 0) {
    throw new BerthError(
      ErrorCode.InvalidEnvironment,
      `missing environment variable${missing.length > 1 ? 's' : ''} ${missing.join(', ')} for ${command}`,
      `${command} needs ${['CNI_COMMAND', ...REQUIRED[command]].join(', ')}`,
    );
  }
  switch (command) {
    case 'VERSION':
      return { command };
    case 'STATUS':
    case 'GC':
      return { command, path: parseCniPath(get('CNI_PATH')) };
    case 'ADD':
    case 'CHECK':
    case 'DEL': {
      const common = {
        containerId: validateContainerId(get('CNI_CONTAINERID')!),
        ifName: validateIfName(get('CNI_IFNAME')!),
        args: parseCniArgs(get('CNI_ARGS')),
        path: parseCniPath(get('CNI_PATH')),
      };
      return command === 'DEL'
        ? { command, ...common, netns: get('CNI_NETNS') }
        : { command, ...common, netns: get('CNI_NETNS')! };
    }
  }
}
