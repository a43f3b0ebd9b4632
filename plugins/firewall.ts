import { join } from 'node:path';
import { BerthError, ErrorCode } from '../base/errors.js';
import { type Backend, type Firewall, openFirewall } from '../iptables/index.js';
import type { FirewallAccess } from '../network/pipeline/request.js';

/** Where the plugins' firewall records are (the Controller's own stateDir layout). */
export const pluginRecordDir = (stateDir: string): string => join(stateDir, 'firewall');

/** The firewall the plugins share: its records under `<stateDir>/firewall`, in the netns the plugin runs in (the host's). */
export function pluginFirewall(stateDir: string, backend?: Backend): Promise<Firewall> {
  return openFirewall({ recordDir: pluginRecordDir(stateDir), ...(backend ? { backend } : {}) });
}

/** The plugins' firewall as the attachment pipeline reaches it. */
export function pluginFirewallAccess(stateDir: string): FirewallAccess {
  return { recordDir: pluginRecordDir(stateDir), open: (backend) => pluginFirewall(stateDir, backend) };
}

/** STATUS: code 50 when the firewall cannot be used, naming why and what to install. */
export async function requireFirewall(stateDir: string, backend: Backend | undefined, what: string): Promise<void> {
  let problem: string | null;
  try {
    problem = await (await pluginFirewall(stateDir, backend)).status();
  } catch (e) {
    problem = e instanceof BerthError ? `${e.msg}: ${e.details}` : String(e);
  }
  if (problem)
    throw new BerthError(ErrorCode.PluginNotAvailable, `${what}: ${problem}`, 'install nftables or iptables');
}
