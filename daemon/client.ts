import { accessSync, closeSync, constants, openSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { isSystemError } from '../base/binding.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { spawnInNetns } from '../base/exec.js';
import { tryFlock } from '../base/files.js';
import type { NetworkOptions } from '../network/config.js';
import type { ControllerOptions, SandboxOptions } from '../network/controller.js';
import type { JoinOptions } from '../network/endpoint.js';
import type { EndpointOptions } from '../network/network.js';
import type { PortSpec, PortSpecInput } from '../network/portspec.js';
import type { EndpointView, NetworkView, SandboxView } from '../network/views.js';
import { prepareRunDir } from './instance.js';
import type { LibraryMethod } from './library.js';
import {
  canonicalDir,
  DAEMON_BUNDLE,
  type DaemonPaths,
  daemonPaths,
  defaultPluginDir,
  netnsInode,
  RUN_DIR,
} from './paths.js';
import { CONTROLLER_PATH_OPTIONS, encodeRequest, FrameKind, FrameReader, type LibraryReply } from './protocol.js';

export interface DaemonClientOptions extends ControllerOptions {
  /** The CNI plugins' folder whose daemon serves the calls. Default: this install's dist/cni. */
  readonly pluginDir?: string;
  /** How long a call waits for a daemon to come up (one it started, or one starting). Default 10 s. */
  readonly startTimeoutMs?: number;
}

const DEFAULT_START_TIMEOUT_MS = 10_000;
const POLL_MS = 25;
/** A connection that fails so was not served: no socket, nobody listening on it (a killed daemon's), one closing. */
const NOT_SERVED_ERRNOS = ['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE'];

/** The daemon did not take the connection (no socket, nobody listening, closed before its greeting): no call was made. */
class NotServed extends Error {}

/**
 * The library through the berth daemon: the Controller's operations, run warm in the resident
 * process that also serves the CNI plugins, answered with plain JSON views (those `berth ... --json`
 * prints). A failure is thrown as the same BerthError (code, message, fix) the operation throws
 * in-process.
 *
 * The daemon that serves is the one of the host netns (hostNetnsPath, else the caller's) for this
 * install's plugin folder: the daemon's kernel work happens in the netns it runs in, so that must
 * be the host's; and the CNI plugins of the same install share it, with its locks and batching.
 * A call that finds none starts it, detached, as the CNI client does (netlink/src/cni-client.c);
 * one run in the foreground (`berth daemon`) serves all the same.
 */
export class DaemonClient {
  private readonly paths: DaemonPaths;
  private readonly pluginDir: string;
  private readonly netns: string;
  private readonly controller: Readonly<Record<string, string>>;
  private readonly startTimeoutMs: number;

  constructor(options: DaemonClientOptions = {}) {
    const { pluginDir, startTimeoutMs, ...rest } = options;
    const controller = controllerOptions(rest);
    this.pluginDir = given('pluginDir', pluginDir ?? defaultPluginDir(), canonicalDir, 'the folder of berth-daemon.js');
    this.netns = controller.hostNetnsPath ?? '';
    const inode = given('hostNetnsPath', this.netns || '/proc/self/ns/net', netnsInode, 'a network namespace');
    this.paths = daemonPaths(inode, this.pluginDir);
    this.controller = Object.fromEntries(Object.entries(controller).filter(([, v]) => v !== undefined));
    this.startTimeoutMs = startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  }

  /** The daemon's socket. */
  get socket(): string {
    return this.paths.socket;
  }

  createNetwork(options: NetworkOptions): Promise<NetworkView> {
    return this.op('createNetwork', { options });
  }
  network(name: string): Promise<NetworkView> {
    return this.op('network', { network: name });
  }
  networks(): Promise<NetworkView[]> {
    return this.op('networks', {});
  }
  /** Refused while it has endpoints. */
  deleteNetwork(name: string): Promise<void> {
    return this.op('deleteNetwork', { network: name });
  }

  createSandbox(options: SandboxOptions): Promise<SandboxView> {
    return this.op('createSandbox', { options });
  }
  sandbox(name: string): Promise<SandboxView> {
    return this.op('sandbox', { sandbox: name });
  }
  sandboxes(): Promise<SandboxView[]> {
    return this.op('sandboxes', {});
  }
  /** Leaves its endpoints, then deletes its netns when berth made it. */
  destroySandbox(name: string): Promise<void> {
    return this.op('destroySandbox', { sandbox: name });
  }

  createEndpoint(network: string, options: EndpointOptions): Promise<EndpointView> {
    return this.op('createEndpoint', { network, options });
  }
  endpoint(network: string, name: string): Promise<EndpointView> {
    return this.op('endpoint', { network, endpoint: name });
  }
  endpoints(network: string): Promise<EndpointView[]> {
    return this.op('endpoints', { network });
  }
  /** Leaves first when joined. */
  deleteEndpoint(network: string, name: string): Promise<void> {
    return this.op('deleteEndpoint', { network, endpoint: name });
  }
  join(network: string, endpoint: string, sandbox: string, options: JoinOptions = {}): Promise<EndpointView> {
    return this.op('join', { network, endpoint, sandbox, options });
  }
  leave(network: string, endpoint: string, sandbox?: string): Promise<EndpointView> {
    return this.op('leave', { network, endpoint, ...(sandbox === undefined ? {} : { sandbox }) });
  }
  publish(network: string, endpoint: string, ports: readonly PortSpecInput[]): Promise<PortSpec[]> {
    return this.op('publish', { network, endpoint, ports });
  }
  /** The given publications (host port and protocol), or all of them. */
  unpublish(
    network: string,
    endpoint: string,
    ports?: readonly { hostPort: number; protocol: string }[],
  ): Promise<void> {
    return this.op('unpublish', { network, endpoint, ...(ports === undefined ? {} : { ports }) });
  }
  reloadFirewall(): Promise<void> {
    return this.op('reloadFirewall', {});
  }

  private op<T>(method: LibraryMethod, params: Record<string, unknown>): Promise<T> {
    return this.call(method, params) as Promise<T>;
  }

  /** One request by method name, as the daemon's dispatcher (daemon/library.ts) knows them; its result as JSON. */
  async call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const frame = encodeRequest({ method, params, controller: this.controller });
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      try {
        const reply = await exchange(this.paths.socket, frame);
        if (reply.ok) return reply.result;
        throw new BerthError(reply.error.code, reply.error.msg, reply.error.details);
      } catch (e) {
        if (!(e instanceof NotServed)) throw e;
        // Also while a daemon starts or stops: one that holds the lock keeps this from starting another.
        startDaemon(this.netns, this.pluginDir, this.paths);
        if (Date.now() > deadline) {
          throw new BerthError(
            ErrorCode.TryAgainLater,
            `no berth daemon answered at ${this.paths.socket} within ${this.startTimeoutMs} ms (${e.message})`,
            `see ${this.paths.log}; or run one in the foreground: berth daemon --dir ${this.pluginDir}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    }
  }
}

/** The Controller's options as the request carries them: strings, paths absolute; or an error naming the option. */
export function controllerOptions(options: ControllerOptions): ControllerOptions {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (typeof value !== 'string') {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `the controller option ${key} is ${JSON.stringify(value) ?? typeof value}`,
        `give ${key} as a string`,
      );
    }
    out[key] = value !== '' && CONTROLLER_PATH_OPTIONS.includes(key) ? resolve(value) : value;
  }
  return out as ControllerOptions;
}

/** What `read` makes of a path the options give, or an error naming the option. */
function given<T>(option: string, path: string, read: (path: string) => T, what: string): T {
  try {
    return read(path);
  } catch (e) {
    throw new BerthError(
      ErrorCode.InvalidConfig,
      `${option} ${path} cannot be used: ${(e as Error).message}`,
      `give ${what}${option === 'pluginDir' ? ' (npm run build makes dist/cni)' : ''}`,
    );
  }
}

/** A client of the berth daemon, its daemon reached (and started when there was none). */
export async function connectDaemon(options: DaemonClientOptions = {}): Promise<DaemonClient> {
  const client = new DaemonClient(options);
  await client.networks();
  return client;
}

/**
 * One request on a connection of its own: after the greeting, the request; then the reply. A failure
 * before the greeting is NotServed; one after it may have run the call: code 11, as the CNI client says.
 */
function exchange(socketPath: string, request: Buffer): Promise<LibraryReply> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader();
    let greeted = false;
    const socket = connect(socketPath);
    const lost = (what: string) => {
      socket.destroy();
      if (!greeted) return reject(new NotServed(what));
      reject(
        new BerthError(
          ErrorCode.TryAgainLater,
          `the berth daemon at ${socketPath} ${what}`,
          'the call may have been done in part or in whole; look (e.g. inspect) before you repeat it; the next call starts a new daemon',
        ),
      );
    };
    socket.on('error', (e) => {
      if (!greeted && !NOT_SERVED_ERRNOS.some((code) => isSystemError(e, code))) {
        socket.destroy();
        reject(
          new BerthError(
            ErrorCode.IOFailure,
            `cannot reach the berth daemon at ${socketPath}: ${e.message}`,
            "its socket is root's: run as root",
          ),
        );
        return;
      }
      lost(`failed: ${e.message}`);
    });
    socket.on('close', () => lost('ended the connection before its answer'));
    socket.on('data', (chunk: Buffer) => {
      let frames: ReturnType<FrameReader['push']>;
      try {
        frames = reader.push(chunk);
      } catch (e) {
        return lost(`sent a malformed frame: ${(e as Error).message}`);
      }
      for (const frame of frames) {
        if (!greeted && frame.kind === FrameKind.Greeting) {
          greeted = true;
          socket.write(request);
        } else if (greeted && frame.kind === FrameKind.Reply) {
          socket.destroy();
          return resolve(frame.reply);
        } else {
          return lost(`sent a frame of kind ${frame.kind} out of turn`);
        }
      }
    });
  });
}

/**
 * Starts the daemon's bundle detached in the netns (its own session, stdio on its log), unless a
 * daemon holds the instance lock. As the CNI client does, it takes the lock and hands it over as fd
 * 3: of many callers that find no daemon, one starts it.
 */
function startDaemon(netns: string, pluginDir: string, paths: DaemonPaths): void {
  const bundle = join(pluginDir, DAEMON_BUNDLE);
  try {
    accessSync(bundle, constants.X_OK);
  } catch (e) {
    throw new BerthError(
      ErrorCode.IOFailure,
      `no berth daemon runs at ${paths.socket}, and ${bundle} cannot start one: ${(e as Error).message}`,
      'build berth (npm run build), give pluginDir the folder of berth-daemon.js, or run berth daemon in the foreground',
    );
  }
  prepareRunDir(RUN_DIR);
  const lock = openSync(paths.lock, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    if (!tryFlock(lock)) return;
    const log = openSync(
      paths.log,
      constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      const env = Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !k.startsWith('CNI_') && k !== 'BERTH_DAEMON_LOCK_FD'),
      );
      const child = spawnInNetns(netns, bundle, [], {
        detached: true,
        cwd: '/',
        stdio: ['ignore', log, log, lock],
        env: { ...env, BERTH_DAEMON_LOCK_FD: '3' },
      });
      // A start that fails lets the lock go with its fd; the caller's wait names the log.
      child.on('error', () => {});
      child.unref();
    } finally {
      closeSync(log);
    }
  } finally {
    closeSync(lock);
  }
}
