import { BerthError, ErrorCode } from '../base/errors.js';
import { PLUGIN_ABOUT, type PluginName } from '../plugins/about.js';
import { bandwidthPlugin } from '../plugins/bandwidth/bandwidth.js';
import { berthPlugin } from '../plugins/berth/berth.js';
import { bridgePlugin } from '../plugins/bridge/bridge.js';
import { dnsPlugin } from '../plugins/dns/dns.js';
import { ipamPlugin } from '../plugins/ipam/ipam.js';
import { loopbackPlugin } from '../plugins/loopback/loopback.js';
import { macvlanPlugin } from '../plugins/macvlan/macvlan.js';
import { portmapPlugin } from '../plugins/portmap/portmap.js';
import { runSkel } from '../plugins/skel/skel.js';
import type { CniPlugin } from '../plugins/types.js';
import type { Answer, Call } from './protocol.js';

/** The same plugin functions the in-process executables run, by executable name. */
const PLUGINS: Readonly<Record<PluginName, () => CniPlugin>> = {
  berth: () => berthPlugin,
  'berth-bandwidth': () => bandwidthPlugin,
  'berth-bridge': () => bridgePlugin,
  'berth-dns': () => dnsPlugin,
  'berth-ipam': () => ipamPlugin(),
  'berth-loopback': () => loopbackPlugin(),
  'berth-macvlan': () => macvlanPlugin,
  'berth-portmap': () => portmapPlugin,
};

const isPluginName = (name: string): name is PluginName => Object.hasOwn(PLUGINS, name);

/** KEY=VALUE strings as an environment; a string without '=' is no variable, and a later key wins. */
export function environmentOf(entries: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/**
 * One CNI call through runSkel with its output captured: the answer the executable would have given
 * as a process (exit code, stdout, stderr), for the same env and stdin.
 */
export async function runCall(call: Call): Promise<Answer> {
  let stdout = '';
  let stderr = '';
  if (!isPluginName(call.plugin)) {
    const error = new BerthError(
      ErrorCode.InvalidConfig,
      `the berth daemon has no plugin ${JSON.stringify(call.plugin)}`,
      `its plugins are ${Object.keys(PLUGINS).join(', ')}; the client takes its name from its file name`,
    );
    return answer(1, `${JSON.stringify(error.toCni('1.1.0'), null, 2)}\n`, '');
  }
  const code = await runSkel(
    PLUGINS[call.plugin](),
    {
      env: environmentOf(call.env),
      stdin: call.stdin.toString('utf8'),
      stdout: (text) => {
        stdout += text;
      },
      stderr: (text) => {
        stderr += text;
      },
    },
    { about: PLUGIN_ABOUT[call.plugin] },
  );
  return answer(code, stdout, stderr);
}

const answer = (code: number, stdout: string, stderr: string): Answer => ({
  code,
  stdout: Buffer.from(stdout),
  stderr: Buffer.from(stderr),
});

/**
 * What orders calls: the container and the network, so the runtime's DEL of a container never
 * overtakes its ADD (whose client may be gone). Calls without a container (STATUS, GC, VERSION) run
 * at once: undefined.
 */
export function orderKey(call: Call): string | undefined {
  const id = environmentOf(call.env).CNI_CONTAINERID;
  if (!id) return undefined;
  let network = '';
  try {
    const name = (JSON.parse(call.stdin.toString('utf8')) as { name?: unknown } | null)?.name;
    if (typeof name === 'string') network = name;
  } catch {
    // The skel refuses the config; the order of a refusal does not matter.
  }
  return `${id}\0${network}`;
}

/** Runs tasks of one key one after another, in the order they came, and tasks of other keys alongside. */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string | undefined, task: () => Promise<T>): Promise<T> {
    if (key === undefined) return task();
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.tails.size;
  }
}
