import type { Argv, CommandModule } from 'yargs';
import { ofThisBoot } from '../../base/boot.js';
import { BerthError } from '../../base/errors.js';
import type { PortRecord } from '../../network/ports.js';
import { formatPortSpec, mergePortSpecs, type PortSpec, validatePortSpec } from '../../network/portspec.js';
import { type GlobalArgs, openController } from '../context.js';
import { print, printJson, table } from '../output.js';
import { ownerOf, type PortTargetArgs, publishTo, resolvePortTarget } from '../port-target.js';
import { parsePublish } from '../ports.js';
import { UsageError } from '../usage.js';

interface PortArgs extends GlobalArgs, PortTargetArgs {
  specs?: string[];
  'host-ip'?: string;
  json?: boolean;
}

/** A spec as `run -p` reads it; --host-ip fills the address of those that name none. */
function spec(text: string, hostIP: string | undefined): PortSpec {
  const s = parsePublish(text);
  if (!hostIP || s.hostIP) return s;
  try {
    return validatePortSpec({ ...s, hostIP });
  } catch (e) {
    if (e instanceof BerthError) throw new UsageError(`--host-ip: ${e.msg}`, e.details);
    throw e;
  }
}

/** "8080/tcp" or "8080" (tcp), for unpublish. */
function hostPortOf(text: string): { hostPort: number; protocol: string } {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(text);
  if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) {
    throw new UsageError(`invalid port ${JSON.stringify(text)}`, 'write HOST_PORT[/tcp|udp|sctp], e.g. 8080/tcp');
  }
  return { hostPort: Number(m[1]), protocol: (m[2] ?? 'tcp').toLowerCase() };
}

const target = (y: Argv<PortArgs>) =>
  y
    .option('netns', { type: 'string', describe: 'the container by its netns: a path, or a name in /run/netns' })
    .option('pid', { type: 'number', describe: 'the container by a process in it' })
    .option('sandbox', { type: 'string', describe: 'a sandbox berth knows' });

function rows(records: readonly PortRecord[]): string[][] {
  return records.flatMap((r) => r.specs.map((s) => [formatPortSpec(s), r.containerIPs.join(','), r.label]));
}

const publish: CommandModule<GlobalArgs, PortArgs> = {
  command: 'publish <specs..>',
  describe: 'publish ports of a running container on the host (DNAT), recorded so ls and unpublish find them',
  builder: (y) =>
    target(y as Argv<PortArgs>)
      .positional('specs', {
        type: 'string',
        array: true,
        describe: '[HOST_IP:]HOST_PORT[-END]:CONTAINER_PORT[-END][/tcp|udp|sctp]',
      })
      .option('host-ip', {
        type: 'string',
        describe: 'the host address for specs that name none (default: every address)',
      })
      .example(
        '$0 port publish --netns /run/netns/web 8080:80/tcp 5353:53/udp',
        'two ports of the container in netns web',
      )
      .example('$0 port publish --sandbox app --host-ip 127.0.0.1 8080:80', 'only the host itself reaches it')
      .example(
        '$0 port publish --pid 4242 8000-8009:9000-9009',
        'a range, by a process in the container',
      ) as Argv<PortArgs>,
  handler: async (argv) => {
    const specs = mergePortSpecs((argv.specs ?? []).map((s) => spec(s, argv['host-ip'])));
    const ctl = await openController(argv, 'port publish');
    const rec = await publishTo(ctl, resolvePortTarget(ctl, argv), specs);
    for (const s of specs) print(`${formatPortSpec(s)} -> ${rec.containerIPs.join(', ')}`);
  },
};

const unpublish: CommandModule<GlobalArgs, PortArgs> = {
  command: 'unpublish [specs..]',
  describe: "remove a container's published ports: the ones named, or all of them",
  builder: (y) =>
    target(y as Argv<PortArgs>)
      .positional('specs', { type: 'string', array: true, describe: 'HOST_PORT[/tcp|udp|sctp]; none: every port' })
      .example('$0 port unpublish --netns /run/netns/web 8080/tcp', 'one port')
      .example('$0 port unpublish --sandbox app', 'all of them') as Argv<PortArgs>,
  handler: async (argv) => {
    const which = (argv.specs ?? []).map(hostPortOf);
    const ctl = await openController(argv, 'port unpublish');
    const owner = ownerOf(resolvePortTarget(ctl, argv));
    await ctl.ports.unpublish(owner, which.length > 0 ? which : undefined);
  },
};

const ls: CommandModule<GlobalArgs, PortArgs> = {
  command: 'ls',
  describe: 'list every port published in this boot: library, command and CNI plugins alike',
  builder: (y) =>
    (y as Argv<PortArgs>)
      .option('json', { type: 'boolean', describe: 'the records as JSON' })
      .example('$0 port ls', 'a table')
      .example('$0 port ls --json', 'for scripts') as Argv<PortArgs>,
  handler: async (argv) => {
    const ctl = await openController(argv, 'port ls');
    // A record of a boot that is over publishes nothing (berth doctor reports it, berth gc removes it).
    const records = ctl.ports.list().filter(ofThisBoot);
    if (argv.json) {
      printJson(
        records.map((r) => ({
          owner: r.owner,
          label: r.label,
          containerIPs: r.containerIPs,
          netnsPath: r.netnsPath ?? null,
          ports: r.specs,
        })),
      );
      return;
    }
    process.stdout.write(table(['PORTS', 'CONTAINER', 'OWNER'], rows(records)));
  },
};

export const portCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'port <command>',
  describe: 'publish, unpublish and list ports of running containers',
  builder: (y) =>
    y.command(publish).command(unpublish).command(ls).demandCommand(1, 'name a port command: publish, unpublish or ls'),
  handler: () => {},
};
