import { hostNameServices } from '../network/names/launch.js';
import { type HostedNameService, startNameService } from '../network/names/run.js';

/**
 * The name services a daemon hosts, one per state dir its calls used: the plugins' calls, and the
 * library's (whose host netns is the daemon's own), find no service running and start it here
 * instead of in a process of its own. Each leaves when it has had no network with names for its
 * idle time; while any runs, the daemon stays.
 */
export class HostedNames {
  private readonly services = new Map<string, Promise<HostedNameService | undefined>>();

  constructor(private readonly log: (line: string) => void) {}

  /** Makes this process the host of the name services its calls start. */
  install(): void {
    hostNameServices((stateDir) => this.host(stateDir));
  }

  private async host(stateDir: string): Promise<void> {
    if (this.services.has(stateDir)) return;
    // Kept while it starts, so two calls at once start it once.
    const starting = startNameService({ stateDir, log: this.log });
    this.services.set(stateDir, starting);
    const service = await starting.catch((e: unknown) => {
      this.services.delete(stateDir);
      throw e;
    });
    if (!service) {
      this.services.delete(stateDir);
      return;
    }
    void service.idle.then(async () => {
      await service.stop();
      this.services.delete(stateDir);
    });
  }

  /** How many it hosts (or starts). */
  get size(): number {
    return this.services.size;
  }

  /** Asks each to look at its records now (a caller sent LOOK_NOW). */
  look(): void {
    for (const s of this.services.values()) void s.then((service) => service?.look());
  }

  /** Stops them all and hosts no more: a call after this starts a process of its own. */
  async stop(): Promise<void> {
    hostNameServices(undefined);
    await Promise.all([...this.services.values()].map(async (s) => (await s)?.stop()));
    this.services.clear();
  }
}
