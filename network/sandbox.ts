import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { TeardownErrors } from '../base/errors.js';
import { spawnInNetnsWithBinds } from '../base/exec.js';
import type { Controller } from './controller.js';
import { Endpoint } from './endpoint.js';
import type { EndpointRecord, SandboxMode, SandboxRecord } from './model.js';
import { removeFilesOf, sandboxBindsOf } from './names/sandbox-dns.js';
import { deleteNetns } from './netns.js';
import { isGone } from './undo.js';

/** libnetwork's Sandbox: a container's network stack (a netns) that endpoints join and leave. */
export class Sandbox {
  constructor(
    readonly controller: Controller,
    readonly record: SandboxRecord,
  ) {}

  get name(): string {
    return this.record.name;
  }
  get id(): string {
    return this.record.id;
  }
  get mode(): SandboxMode {
    return this.record.mode;
  }
  get netnsPath(): string {
    return this.record.netnsPath;
  }

  /**
   * Starts a process in the sandbox: in its netns, with its resolv.conf and hosts bound over
   * /etc's in a mount namespace of the process's own (host mode: the host's files, no binds).
   * A command that cannot start exits 127 (not found) or 126, saying why on stderr.
   */
  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const binds = sandboxBindsOf(this.controller.sandboxDns, this.record);
    return spawnInNetnsWithBinds(this.netnsPath, binds, command, args, options);
  }

  /** The endpoints joined through this sandbox. */
  endpoints(): Endpoint[] {
    return this.joined((e) => e.join?.sandbox === this.name);
  }

  /** The library's endpoints whose records pass `which`, as Endpoints of their networks. */
  private joined(which: (e: EndpointRecord) => boolean): Endpoint[] {
    const ctl = this.controller;
    return ctl
      .endpointRecords()
      .filter((e) => !e.cni && which(e))
      .map((e) => new Endpoint(ctl.network(e.network), e));
  }

  /**
   * Leaves every endpoint, then deletes the netns when berth made it. While
   * another sandbox shares the netns (container mode) its interfaces are that
   * sandbox's network too: they stay, and the last one out leaves them all.
   */
  async destroy(): Promise<void> {
    const ctl = this.controller;
    const errors: unknown[] = [];
    const shared =
      this.mode !== 'host' &&
      ctl.store.list<SandboxRecord>('sandboxes').some((s) => s.name !== this.name && s.netnsPath === this.netnsPath);
    const leaving = shared
      ? []
      : this.joined((e) =>
          this.mode === 'host' ? e.join?.sandbox === this.name : e.join?.netnsPath === this.netnsPath,
        );
    for (const ep of leaving) {
      try {
        await ep.leave();
      } catch (e) {
        errors.push(e);
      }
    }
    await ctl.store.locked(() => {
      const sharing = ctl.store
        .list<SandboxRecord>('sandboxes')
        .filter((s) => s.name !== this.name && s.netnsPath === this.netnsPath);
      if (this.record.ownsNetns && sharing.length === 0) {
        try {
          deleteNetns(this.netnsPath);
        } catch (e) {
          if (!isGone(e)) errors.push(e);
        }
        try {
          removeFilesOf(ctl.sandboxDns, this.record);
        } catch (e) {
          errors.push(e);
        }
      }
      ctl.store.remove('sandboxes', this.name);
    });
    if (errors.length > 0) throw new TeardownErrors(errors);
  }
}
