import { basename } from 'node:path';
import type { BindMount } from '../../base/exec.js';
import type { EndpointRecord, SandboxRecord } from '../model.js';
import type { StateStore } from '../state.js';
import {
  removeSandboxFiles,
  sandboxBinds,
  sandboxFilesDir,
  sandboxHosts,
  sandboxResolvConf,
  writeSandboxFiles,
} from './sandbox-files.js';
import type { NamesStore } from './store.js';
import { hostResolverFiles } from './upstreams.js';

/** What keeping a sandbox's resolv.conf and hosts needs from the Controller. */
export interface SandboxDnsContext {
  readonly store: StateStore;
  readonly names: NamesStore;
  /** Where the files go, a folder per netns: /etc/netns, as `ip netns exec` reads them. */
  readonly etcNetnsDir: string;
}

/** A join under way, not in the records yet. */
export interface PendingJoin {
  readonly network: string;
  /** Without prefix. */
  readonly addresses: readonly string[];
}

/**
 * The folder of the files a sandbox's processes see, or undefined when they see the host's (host
 * mode). A container-mode sandbox shares the folder of the netns it shares, by the netns's name.
 */
export function sandboxFilesOf(ctx: SandboxDnsContext, sb: SandboxRecord): string | undefined {
  if (sb.mode === 'host' || !sb.ownsNetns) return undefined;
  return sandboxFilesDir(ctx.etcNetnsDir, basename(sb.netnsPath));
}

/** The binds for a process started in the sandbox: its files over /etc's, none in host mode. */
export function sandboxBindsOf(ctx: SandboxDnsContext, sb: SandboxRecord): BindMount[] {
  const dir = sandboxFilesOf(ctx, sb);
  return dir ? sandboxBinds(dir) : [];
}

/**
 * Writes the files of the sandbox that made this netns from its settings and the networks it is
 * on now (with `pending`, a join not recorded yet). Nothing when no such sandbox is left.
 */
export function refreshSandboxFiles(ctx: SandboxDnsContext, netnsPath: string, pending?: PendingJoin): void {
  const owner = ctx.store
    .list<SandboxRecord>('sandboxes')
    .find((s) => s.netnsPath === netnsPath && s.mode === 'none' && s.ownsNetns);
  if (owner) writeFilesOf(ctx, owner, pending);
}

/** Writes the files of `owner` (a none-mode sandbox, which may not be recorded yet). */
export function writeFilesOf(ctx: SandboxDnsContext, owner: SandboxRecord, pending?: PendingJoin): void {
  const dir = sandboxFilesOf(ctx, owner);
  if (!dir) return;
  const joined: PendingJoin[] = ctx.store
    .list<EndpointRecord>('endpoints')
    .flatMap((e) =>
      e.join?.netnsPath === owner.netnsPath
        ? [{ network: e.network, addresses: e.join.addresses.map((a) => a.split('/')[0]!) }]
        : [],
    );
  if (pending) joined.push(pending);
  const nameServers = joined.flatMap((j) => {
    const settings = ctx.names.network(j.network);
    return settings ? [{ listen: settings.listen, ...(settings.domain ? { domain: settings.domain } : {}) }] : [];
  });
  writeSandboxFiles(dir, {
    resolvConf: sandboxResolvConf(owner.dns, nameServers, { text: '', ...hostResolverFiles() }),
    hosts: sandboxHosts({ name: owner.name, addresses: joined.flatMap((j) => j.addresses) }, owner.hosts),
  });
}

/** Removes the files of a netns that is going away; gone is success. */
export function removeFilesOf(ctx: SandboxDnsContext, sb: SandboxRecord): void {
  const dir = sandboxFilesOf(ctx, sb);
  if (dir) removeSandboxFiles(dir);
}
