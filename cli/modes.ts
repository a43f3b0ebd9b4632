import { BerthError } from '../base/errors.js';
import { validateName } from '../network/config.js';
import { UsageError } from './usage.js';

/** A sandbox's `--mode`, read: none and host stand alone, container names the sandbox to share. */
export type ModeChoice =
  | { readonly mode: 'none' }
  | { readonly mode: 'host' }
  | { readonly mode: 'container'; readonly shareWith: string };

/** Where `berth run --network` puts the process: a keyword, or a network by name. */
export type RunNetwork = ModeChoice | { readonly mode: 'network'; readonly network: string };

/** The words `run --network` reserves; a network cannot be named after them. */
export const RESERVED_NETWORK_NAMES: readonly string[] = ['none', 'host'];

function name(text: string, what: string, option: string): string {
  try {
    return validateName(text, what);
  } catch (e) {
    if (e instanceof BerthError) throw new UsageError(`${option}: ${e.msg}`, e.details);
    throw e;
  }
}

function container(text: string, option: string): ModeChoice | undefined {
  if (text === 'container') {
    throw new UsageError(`${option} container needs the sandbox to share`, `write ${option} container:NAME`);
  }
  if (!text.startsWith('container:')) return undefined;
  const other = text.slice('container:'.length);
  if (other === '') throw new UsageError(`${option} ${text} names no sandbox`, `write ${option} container:NAME`);
  return { mode: 'container', shareWith: name(other, 'sandbox', option) };
}

/** Reads `sandbox create --mode`: none, host or container:NAME. */
export function parseMode(text: string): ModeChoice {
  if (text === 'none' || text === 'host') return { mode: text };
  const shared = container(text, '--mode');
  if (shared) return shared;
  throw new UsageError(`unknown --mode ${JSON.stringify(text)}`, 'use none, host or container:NAME');
}

/** Reads `run --network`: none, host, container:NAME, or the name of a network. */
export function parseRunNetwork(text: string): RunNetwork {
  if (text === 'none' || text === 'host') return { mode: text };
  const shared = container(text, '--network');
  if (shared) return shared;
  return { mode: 'network', network: name(text, 'network', '--network') };
}
