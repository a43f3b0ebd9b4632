import { asBerthError, BerthError, ErrorCode, invalidConfig } from '../../base/errors.js';
import type { CniCommand, CniPlugin, CniRequest, NetConf, PluginContext } from '../types.js';
import { decodeJson, parseNetConf, parseValidAttachments, sniffVersion } from './config.js';
import { type CniEnv, type Environment, parseCommand, parseEnv } from './env.js';
import { encodeResult } from './result.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS, versionInfo } from './version.js';

/** Everything the skel touches outside itself, so a test can run a plugin without a process. */
export interface SkelIO {
  readonly env: Environment;
  /** The network configuration, or a function that reads it (called at most once, never for a missing CNI_COMMAND). */
  readonly stdin: string | (() => string | Promise<string>);
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export interface SkelOptions {
  /** Printed on stderr when CNI_COMMAND is missing, e.g. "berth-bridge 0.1.0": someone ran the plugin by hand. */
  readonly about?: string;
}

/**
 * Runs one CNI invocation: reads CNI_COMMAND, stdin and the other CNI_*
 * variables, checks the config and its version, calls the plugin's verb and
 * prints its result, or the error object, on stdout. Returns the exit status.
 */
export async function runSkel(plugin: CniPlugin, io: SkelIO, options: SkelOptions = {}): Promise<0 | 1> {
  // Errors answer in the config's version once it is known (spec: "the same value as provided by the configuration").
  let answerVersion: string = CURRENT_VERSION;
  const context: PluginContext = { log: (message) => io.stderr(`${message}\n`), env: io.env };
  try {
    let command: CniCommand;
    try {
      command = parseCommand(io.env.CNI_COMMAND);
    } catch (e) {
      if (options.about && !io.env.CNI_COMMAND) {
        io.stderr(`${options.about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`);
      }
      throw e;
    }
    const text = await readStdin(io.stdin);
    const sniffed = sniffVersion(text);
    if (sniffed) answerVersion = sniffed;
    if (command === 'VERSION') {
      // VERSION is the runtime's probe: it never fails over its input.
      io.stdout(`${JSON.stringify(versionInfo(answerVersion))}\n`);
      return 0;
    }
    const env = parseEnv(command, io.env);
    const config = parseNetConf(decodeJson(text), command);
    const request = toRequest(env, config);
    switch (request.command) {
      case 'ADD': {
        const result = await plugin.add(request, context);
        io.stdout(`${JSON.stringify(encodeResult(result, config.cniVersion), null, 2)}\n`);
        break;
      }
      case 'DEL':
        await plugin.del(request, context);
        break;
      case 'CHECK':
        await plugin.check(request, context);
        break;
      case 'STATUS':
        await plugin.status?.(request, context);
        break;
      case 'GC':
        await plugin.gc?.(request, context);
        break;
    }
    return 0;
  } catch (e) {
    const error = asBerthError(e);
    if (error.code === ErrorCode.Internal && e instanceof Error && e.stack) io.stderr(`${e.stack}\n`);
    try {
      io.stdout(`${JSON.stringify(error.toCni(answerVersion), null, 2)}\n`);
    } catch (writeError) {
      io.stderr(`could not write the error to stdout: ${asBerthError(writeError).message}\n`);
    }
    return 1;
  }
}

async function readStdin(stdin: SkelIO['stdin']): Promise<string> {
  if (typeof stdin === 'string') return stdin;
  try {
    return await stdin();
  } catch (e) {
    throw new BerthError(
      ErrorCode.IOFailure,
      `could not read the network configuration from stdin: ${asBerthError(e).message}`,
      '',
      { cause: e },
    );
  }
}

function toRequest(env: CniEnv, config: NetConf): CniRequest {
  switch (env.command) {
    case 'ADD':
      return { ...env, command: 'ADD', config };
    case 'CHECK': {
      const { prevResult } = config;
      if (!prevResult) {
        throw invalidConfig(
          'CHECK without prevResult',
          'the runtime must pass the result of the ADD as prevResult; CHECK compares the container against it',
        );
      }
      return { ...env, command: 'CHECK', config: { ...config, prevResult } };
    }
    case 'DEL': {
      const { netns, ...rest } = env;
      return netns === undefined ? { ...rest, config } : { ...rest, netns, config };
    }
    case 'STATUS':
      return { ...env, command: 'STATUS', config };
    case 'GC':
      return { ...env, command: 'GC', config, validAttachments: parseValidAttachments(config.raw) };
    case 'VERSION':
      throw new Error('VERSION has no request');
  }
}
