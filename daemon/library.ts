import { isAbsolute, normalize } from 'node:path';
import { asBerthError, BerthError, ErrorCode } from '../base/errors.js';
import type { NetworkOptions } from '../network/config.js';
import { Controller, type ControllerOptions, type SandboxOptions } from '../network/controller.js';
import type { JoinOptions } from '../network/endpoint.js';
import type { NetworkRecord, SandboxRecord } from '../network/model.js';
import type { EndpointOptions } from '../network/network.js';
import type { PortSpecInput } from '../network/portspec.js';
import { DEFAULT_STATE_DIR } from '../network/state.js';
import { endpointView, networkView, sandboxView } from '../network/views.js';
import { CONTROLLER_PATH_OPTIONS, type LibraryReply, type LibraryRequest } from './protocol.js';

type Params = Readonly<Record<string, unknown>>;

const networkOf = (ctl: Controller, rec: NetworkRecord) =>
  networkView(rec, ctl.endpointRecords(), ctl.names.records(rec.name), ctl.names.imported(rec.name));
const sandboxOf = (ctl: Controller, rec: SandboxRecord) => sandboxView(rec, ctl.endpointRecords());
function endpointOf(ctl: Controller, p: Params) {
  const endpoint = name(p, 'endpoint');
  return ctl.network(name(p, 'network')).endpoint(endpoint);
}

function badParam(key: string, v: unknown, want: string): BerthError {
  return new BerthError(
    ErrorCode.InvalidConfig,
    `the ${key} of a library call is ${JSON.stringify(v) ?? 'missing'}`,
    `give ${key} as ${want}`,
  );
}

/** A name param (network, sandbox, endpoint), or an error naming it; the Controller checks the name itself. */
function name(p: Params, key: string): string {
  const v = p[key];
  if (typeof v !== 'string') throw badParam(key, v, 'a string');
  return v;
}

/** An array param (ports), or an error naming it. */
function arrayParam<T>(p: Params, key: string): readonly T[] {
  const v = p[key];
  if (!Array.isArray(v)) throw badParam(key, v, 'an array');
  return v as T[];
}

/** An object param, or an error naming it (a missing one would fail as a TypeError deep inside). */
function objectParam<T>(p: Params, key: string, optional = false): T {
  const v = p[key];
  if (optional && v === undefined) return {} as T;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badParam(key, v, 'an object');
  return v as T;
}

/**
 * What the daemon does for the library's client (daemon/client.ts), by method name: the
 * Controller's operations, answered with the plain views `berth ... --json` prints. Names are
 * checked by the Controller as in-process, so a bad one fails with the same BerthError.
 */
const METHODS = {
  createNetwork: async (ctl: Controller, p: Params) =>
    networkOf(ctl, (await ctl.createNetwork(objectParam<NetworkOptions>(p, 'options'))).record),
  network: async (ctl: Controller, p: Params) => networkOf(ctl, ctl.network(name(p, 'network')).record),
  networks: async (ctl: Controller) => ctl.networks().map((n) => networkOf(ctl, n.record)),
  deleteNetwork: async (ctl: Controller, p: Params) => {
    await ctl.network(name(p, 'network')).delete();
  },
  createSandbox: async (ctl: Controller, p: Params) =>
    sandboxOf(ctl, (await ctl.createSandbox(objectParam<SandboxOptions>(p, 'options'))).record),
  sandbox: async (ctl: Controller, p: Params) => sandboxOf(ctl, ctl.sandbox(name(p, 'sandbox')).record),
  sandboxes: async (ctl: Controller) => ctl.sandboxes().map((s) => sandboxOf(ctl, s.record)),
  destroySandbox: async (ctl: Controller, p: Params) => {
    await ctl.sandbox(name(p, 'sandbox')).destroy();
  },
  createEndpoint: async (ctl: Controller, p: Params) =>
    endpointView(
      (await ctl.network(name(p, 'network')).createEndpoint(objectParam<EndpointOptions>(p, 'options'))).record,
    ),
  endpoint: async (ctl: Controller, p: Params) => endpointView(endpointOf(ctl, p).record),
  endpoints: async (ctl: Controller, p: Params) =>
    ctl
      .network(name(p, 'network'))
      .endpoints()
      .map((e) => endpointView(e.record)),
  deleteEndpoint: async (ctl: Controller, p: Params) => {
    await endpointOf(ctl, p).delete();
  },
  join: async (ctl: Controller, p: Params) => {
    const endpoint = endpointOf(ctl, p);
    await endpoint.join(ctl.sandbox(name(p, 'sandbox')), objectParam<JoinOptions>(p, 'options', true));
    return endpointView(endpoint.record);
  },
  leave: async (ctl: Controller, p: Params) => {
    const endpoint = endpointOf(ctl, p);
    await endpoint.leave(p.sandbox === undefined ? undefined : ctl.sandbox(name(p, 'sandbox')));
    return endpointView(endpoint.record);
  },
  publish: async (ctl: Controller, p: Params) => {
    const ports = arrayParam<PortSpecInput>(p, 'ports');
    return endpointOf(ctl, p).publish(ports);
  },
  unpublish: async (ctl: Controller, p: Params) => {
    const ports = p.ports === undefined ? undefined : arrayParam<{ hostPort: number; protocol: string }>(p, 'ports');
    await endpointOf(ctl, p).unpublish(ports);
  },
  reloadFirewall: (ctl: Controller) => ctl.reloadFirewall(),
} satisfies Record<string, (ctl: Controller, p: Params) => Promise<unknown>>;

export type LibraryMethod = keyof typeof METHODS;

const CONTROLLER_KEYS: readonly (keyof ControllerOptions)[] = [
  'stateDir',
  'hostNetnsPath',
  'netnsDir',
  'firewallBackend',
  'etcNetnsDir',
  'etcd',
  'etcdPrefix',
];

/** The record an endpoint, sandbox or network call changes: calls on one run in the order they came, as CNI calls of one container. */
export function libraryOrderKey(request: LibraryRequest): string | undefined {
  const p = request.params;
  const named = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  const options = (p.options ?? {}) as { name?: unknown };
  let object: string | undefined;
  if (typeof p.endpoint === 'string' || request.method === 'createEndpoint') {
    object = `endpoint\0${named(p.network)}\0${named(p.endpoint ?? options.name)}`;
  } else if (request.method === 'createNetwork' || request.method === 'deleteNetwork') {
    object = `network\0${named(p.network ?? options.name)}`;
  } else if (request.method === 'createSandbox' || request.method === 'destroySandbox') {
    object = `sandbox\0${named(p.sandbox ?? options.name)}`;
  }
  return object === undefined ? undefined : `library\0${stateDirOf(request.controller)}\0${object}`;
}

/** The state dir a request's options name, spelled one way: unset, /var/lib/berth and /var/lib/berth/ are one. */
function stateDirOf(controller: Readonly<Record<string, string>>): string {
  return normalize(controller.stateDir || DEFAULT_STATE_DIR).replace(/(.)\/+$/, '$1');
}

const DEFAULT_CONTROLLER_IDLE_MS = 10 * 60_000;

/** The daemon's side of library calls: one Controller per set of options (a state dir), kept warm. */
export class Library {
  private readonly controllers = new Map<string, { opened: Promise<Controller>; users: number; lastUsed: number }>();

  /** idleMs: a Controller no call has used for this long is closed and let go (the daemon's idle time). */
  constructor(private readonly idleMs = DEFAULT_CONTROLLER_IDLE_MS) {}

  /** Runs one request; every failure comes back as the reply's error, with its code, message and fix. */
  async run(request: LibraryRequest): Promise<LibraryReply> {
    try {
      if (!Object.hasOwn(METHODS, request.method)) {
        throw new BerthError(
          ErrorCode.IncompatibleVersion,
          `the berth daemon has no library method ${JSON.stringify(request.method)}`,
          `its methods are ${Object.keys(METHODS).join(', ')}; a daemon run by hand (berth daemon) must be restarted after an upgrade`,
        );
      }
      this.dropIdle();
      const entry = this.controller(request.controller);
      entry.users += 1;
      try {
        const result = await METHODS[request.method as LibraryMethod](await entry.opened, request.params);
        return result === undefined ? { ok: true } : { ok: true, result };
      } finally {
        entry.users -= 1;
        entry.lastUsed = Date.now();
      }
    } catch (e) {
      const error = asBerthError(e);
      return { ok: false, error: { code: error.code, msg: error.msg, details: error.details } };
    }
  }

  /** Closes the Controllers no call is using that have not been used for idleMs. */
  private dropIdle(): void {
    const now = Date.now();
    for (const [key, entry] of this.controllers) {
      if (entry.users > 0 || now - entry.lastUsed < this.idleMs) continue;
      this.controllers.delete(key);
      void entry.opened.then((ctl) => ctl.close()).catch(() => {});
    }
  }

  private controller(given: Readonly<Record<string, string>>): {
    opened: Promise<Controller>;
    users: number;
    lastUsed: number;
  } {
    const unknown = Object.keys(given).filter((k) => !(CONTROLLER_KEYS as readonly string[]).includes(k));
    if (unknown.length > 0) {
      throw new BerthError(
        ErrorCode.InvalidConfig,
        `unknown controller option(s) ${unknown.join(', ')}`,
        `the options are ${CONTROLLER_KEYS.join(', ')}`,
      );
    }
    for (const key of CONTROLLER_PATH_OPTIONS) {
      const path = given[key];
      // The daemon's cwd is '/', not the caller's: a relative path would name another folder.
      if (path && !isAbsolute(path)) {
        throw new BerthError(
          ErrorCode.InvalidConfig,
          `the controller option ${key} ${JSON.stringify(path)} is a relative path`,
          `give ${key} as an absolute path (the library's client resolves it against its cwd)`,
        );
      }
    }
    const options = Object.fromEntries(CONTROLLER_KEYS.flatMap((k) => (given[k] ? [[k, given[k]]] : [])));
    options.stateDir = stateDirOf(given);
    const key = JSON.stringify(options);
    let entry = this.controllers.get(key);
    if (!entry) {
      const opened = Controller.open(options as ControllerOptions);
      const made = { opened, users: 0, lastUsed: Date.now() };
      entry = made;
      this.controllers.set(key, made);
      // A state dir that could not be opened is tried again by the next call.
      opened.catch(() => {
        if (this.controllers.get(key) === made) this.controllers.delete(key);
      });
    }
    return entry;
  }

  /** Lets go of the Controllers' connections (etcd). */
  async close(): Promise<void> {
    const opened = [...this.controllers.values()].map((e) => e.opened);
    this.controllers.clear();
    for (const ctl of opened) await (await ctl.catch(() => undefined))?.close();
  }
}
