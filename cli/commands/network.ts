import type { Argv, CommandModule } from 'yargs';
import type { DriverName } from '../../network/config.js';
import { MACVLAN_MODES, type MacvlanMode } from '../../network/config.js';
import { NETWORK_DRIVERS, networkDriverOf } from '../../network/drivers/index.js';
import { networkView } from '../../network/views.js';
import { type GlobalArgs, openController } from '../context.js';
import { RESERVED_NETWORK_NAMES } from '../modes.js';
import { print, printJson } from '../output.js';
import { removeNetworks } from '../removal.js';
import { UsageError } from '../usage.js';
import { networkTable, networkText } from '../views.js';

interface CreateArgs extends GlobalArgs {
  name: string;
  driver: DriverName;
  subnet?: string;
  gateway?: string;
  subnet6?: string;
  gateway6?: string;
  bridge?: string;
  mtu?: number;
  parent?: string;
  mode?: MacvlanMode;
  isolate?: boolean;
  masquerade?: boolean;
  dns: boolean;
  'dns-domain'?: string;
  vni?: number;
  'block-prefix'?: number;
}

const create: CommandModule<GlobalArgs, CreateArgs> = {
  command: 'create <name>',
  describe: 'create a network (a Linux bridge with a subnet, by default)',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'the network name' })
      .option('driver', {
        choices: NETWORK_DRIVERS,
        default: 'bridge' as const,
        describe:
          "bridge: a Linux bridge; host: the host's network; null: no interface; macvlan: on the LAN of --parent; overlay: VXLAN across hosts (needs --etcd)",
      })
      .option('subnet', { type: 'string', describe: 'IPv4 subnet (default: the first free /24 of 10.89.0.0/16)' })
      .option('gateway', { type: 'string', describe: 'IPv4 gateway (default: the first address of the subnet)' })
      .option('subnet6', { type: 'string', describe: 'IPv6 subnet, for a dual-stack network' })
      .option('gateway6', { type: 'string', describe: 'IPv6 gateway (default: the first address of subnet6)' })
      .option('bridge', {
        type: 'string',
        describe: 'bridge interface name (default: berth-NAME, or br-ID when longer)',
      })
      .option('mtu', {
        type: 'number',
        describe:
          "MTU of the bridge and the veths (default 1500; macvlan: the parent's; overlay: each host's underlay less 50)",
      })
      .option('parent', { type: 'string', describe: 'macvlan: the device on the LAN, e.g. eth0' })
      .option('mode', {
        choices: MACVLAN_MODES,
        describe: 'macvlan: how its sandboxes reach each other (default bridge: directly)',
      })
      .option('vni', {
        type: 'number',
        describe: 'overlay: the VXLAN network identifier (default: the lowest free one)',
      })
      .option('block-prefix', {
        type: 'number',
        describe: "overlay: the prefix length of each host's block of the subnet (default 24)",
      })
      .option('isolate', {
        type: 'boolean',
        describe: 'drop traffic to and from other berth bridge networks (default on); --no-isolate lets it through',
      })
      .option('masquerade', {
        type: 'boolean',
        describe: 'masquerade traffic leaving the subnet (default on); --no-masquerade routes it unchanged',
      })
      .option('dns', {
        type: 'boolean',
        default: true,
        describe:
          "names: a name service on the gateway answers the sandboxes' names and aliases to the network's sandboxes (bridge; overlay: every host's sandboxes); --no-dns turns it off",
      })
      .option('dns-domain', {
        type: 'string',
        describe: 'a domain the names are also answered under, searched by the sandboxes (e.g. web.internal)',
      })
      .example('$0 network create web', 'a bridge network with the first free /24 of 10.89.0.0/16')
      .example('$0 network create db --subnet 10.90.0.0/24 --subnet6 fd00:90::/64', 'dual stack')
      .example('$0 network create lab --bridge br-lab --mtu 9000 --no-isolate --no-masquerade', 'routed, open')
      .example('$0 network create hostnet --driver host', "sandboxes on it use the host's network")
      .example('$0 network create plain --no-dns', 'no name service; sandboxes get the host resolvers')
      .example('$0 network create app --dns-domain app.internal', 'names also as NAME.app.internal')
      .example(
        '$0 network create lan --driver macvlan --parent eth0 --subnet 192.168.1.0/24 --gateway 192.168.1.254',
        "sandboxes on eth0's LAN, with its router as their gateway",
      )
      .example(
        '$0 --etcd http://10.0.0.1:2379 network create web --driver overlay --subnet 10.240.0.0/16',
        'across hosts: each host that runs berth agent takes a /24 of it',
      ) as Argv<CreateArgs>,
  handler: async (argv) => {
    if (RESERVED_NETWORK_NAMES.includes(argv.name)) {
      throw new UsageError(
        `the network name ${JSON.stringify(argv.name)} is reserved: berth run --network ${argv.name} means the ${argv.name} mode`,
        'choose another name',
      );
    }
    for (const key of ['mtu', 'vni', 'block-prefix'] as const) {
      if (argv[key] !== undefined && Number.isNaN(argv[key])) {
        throw new UsageError(
          `--${key} needs a number`,
          `give a whole number, e.g. --${key} ${{ mtu: 1500, vni: 42, 'block-prefix': 24 }[key]}`,
        );
      }
    }
    if (argv.driver === 'overlay' && argv.subnet === undefined) {
      throw new UsageError(
        'an overlay network needs --subnet',
        'give one that no network of any host uses, e.g. --subnet 10.240.0.0/16',
      );
    }
    if (argv.driver !== 'macvlan' && (argv.parent !== undefined || argv.mode !== undefined)) {
      throw new UsageError(
        `--${argv.parent !== undefined ? 'parent' : 'mode'} is for a macvlan network, and --driver is ${argv.driver}`,
        'add --driver macvlan, or leave it out',
      );
    }
    if (!argv.dns && argv['dns-domain'] !== undefined) {
      throw new UsageError('--dns-domain names a domain for names, and --no-dns turns names off', 'give one of them');
    }
    // Names need a gateway of the host's: other drivers get them only when asked for by --dns-domain (and refuse them).
    const dns =
      networkDriverOf(argv.driver).names || argv['dns-domain'] !== undefined
        ? argv.dns && (argv['dns-domain'] !== undefined ? { domain: argv['dns-domain'] } : true)
        : false;
    const ctl = await openController(argv, 'network create');
    const net = await ctl.createNetwork({
      name: argv.name,
      driver: argv.driver,
      ...(argv.subnet !== undefined ? { subnet: argv.subnet } : {}),
      ...(argv.gateway !== undefined ? { gateway: argv.gateway } : {}),
      ...(argv.subnet6 !== undefined ? { subnet6: argv.subnet6 } : {}),
      ...(argv.gateway6 !== undefined ? { gateway6: argv.gateway6 } : {}),
      ...(argv.bridge !== undefined ? { bridgeName: argv.bridge } : {}),
      ...(argv.mtu !== undefined ? { mtu: argv.mtu } : {}),
      ...(argv.parent !== undefined
        ? { macvlan: { parent: argv.parent, ...(argv.mode ? { mode: argv.mode } : {}) } }
        : {}),
      ...(argv.isolate !== undefined ? { isolate: argv.isolate } : {}),
      ...(argv.masquerade !== undefined ? { masquerade: argv.masquerade } : {}),
      ...(argv.vni !== undefined ? { vni: argv.vni } : {}),
      ...(argv['block-prefix'] !== undefined ? { blockPrefix: argv['block-prefix'] } : {}),
      dns,
    });
    print(net.name);
  },
};

interface ListArgs extends GlobalArgs {
  json: boolean;
}

const jsonOption = { type: 'boolean', default: false, describe: 'print JSON (see docs/cli for the shape)' } as const;

const ls: CommandModule<GlobalArgs, ListArgs> = {
  command: ['ls', 'list'],
  describe: 'list the networks',
  builder: (y) =>
    y
      .option('json', jsonOption)
      .example('$0 network ls', 'a table: name, driver, bridge, subnets, endpoints')
      .example('$0 network ls --json | jq -r ".[].name"', 'the names, for a script'),
  handler: async (argv) => {
    const ctl = await openController(argv, 'network ls');
    const endpoints = ctl.endpointRecords();
    const views = ctl
      .networks()
      .map((n) => networkView(n.record, endpoints, ctl.names.records(n.name), ctl.names.imported(n.name)));
    if (argv.json) printJson(views);
    else print(networkTable(views));
  },
};

interface NamesArgs extends GlobalArgs {
  names: string[];
  json: boolean;
}

const inspect: CommandModule<GlobalArgs, NamesArgs> = {
  command: 'inspect <names..>',
  describe: 'show networks in detail: subnets, gateways, bridge, endpoints, names',
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true, demandOption: true, describe: 'network names' })
      .option('json', { ...jsonOption, describe: 'print a JSON array, one object per network' })
      .example('$0 network inspect web', 'the network and every endpoint on it')
      .example('$0 network inspect web --json', 'the same as JSON') as Argv<NamesArgs>,
  handler: async (argv) => {
    const ctl = await openController(argv, 'network inspect');
    const nets = argv.names.map((n) => ctl.network(n));
    const endpoints = ctl.endpointRecords();
    const views = nets.map((n) =>
      networkView(n.record, endpoints, ctl.names.records(n.name), ctl.names.imported(n.name)),
    );
    if (argv.json) printJson(views);
    else print(views.map(networkText).join('\n'));
  },
};

const rm: CommandModule<GlobalArgs, NamesArgs> = {
  command: ['rm <names..>', 'remove <names..>'],
  describe: 'remove networks: their bridge, firewall rules and address reservations',
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true, demandOption: true, describe: 'network names' })
      .example('$0 network rm web', 'refused while a sandbox is connected to it')
      .example('$0 network rm web db', 'all of them, or none when one is unknown or in use') as Argv<NamesArgs>,
  handler: async (argv) => {
    const ctl = await openController(argv, 'network rm');
    for (const name of await removeNetworks(ctl, argv.names)) print(name);
  },
};

export const networkCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'network',
  describe: 'create, list, inspect and remove networks',
  builder: (y) =>
    y
      .command(create)
      .command(ls)
      .command(inspect)
      .command(rm)
      .demandCommand(1, 'name a network command: create, ls, inspect or rm')
      .example('$0 network create web', 'a bridge network')
      .example('$0 network ls', 'the networks')
      .example('$0 network rm web', 'removed, when nothing is connected'),
  handler: () => undefined,
};
