import type { Argv, CommandModule } from 'yargs';
import { connect, disconnect } from '../attach.js';
import { BANDWIDTH_OPTIONS, type BandwidthArgs, parseBandwidthArgs, requireBridgeForLimits } from '../bandwidth.js';
import { type GlobalArgs, openController } from '../context.js';
import { print } from '../output.js';

interface ConnectArgs extends GlobalArgs, BandwidthArgs {
  network: string;
  sandbox: string;
  ip?: string[];
  ifname?: string;
  alias?: string[];
}

export const connectCommand: CommandModule<GlobalArgs, ConnectArgs> = {
  command: 'connect <network> <sandbox>',
  describe: 'connect a sandbox to a network: an interface in it with an address from the network',
  builder: (y) =>
    y
      .positional('network', { type: 'string', demandOption: true })
      .positional('sandbox', { type: 'string', demandOption: true })
      .option('ip', {
        type: 'string',
        array: true,
        describe: 'the address to take, without prefix (once per family; default: the next free one)',
      })
      .option('ifname', {
        type: 'string',
        describe: 'the interface name in the sandbox (default: the first free ethN)',
      })
      .option('alias', {
        type: 'string',
        array: true,
        describe: "another name for the sandbox on this network's name service (repeat for more)",
      })
      .options(BANDWIDTH_OPTIONS)
      .example('$0 connect web app', 'app gets eth0 with the next free address of web')
      .example(
        '$0 connect web app --ingress-rate 10mbit --egress-rate 1mbit',
        'app receives at 10 and sends at 1 Mbit/s',
      )
      .example('$0 connect web app --alias api --alias api-v2', 'app answers to api and api-v2 on web too')
      .example('$0 connect db app --ip 10.90.0.10 --ifname eth1', 'a chosen address and interface')
      .example('$0 connect dual app --ip 10.91.0.5 --ip fd00:91::5', 'one address per family') as Argv<ConnectArgs>,
  handler: async (argv) => {
    const bandwidth = parseBandwidthArgs(argv);
    const ctl = await openController(argv, 'connect');
    const net = ctl.network(argv.network);
    const sb = ctl.sandbox(argv.sandbox);
    if (bandwidth) requireBridgeForLimits(net.driver, argv.network);
    const ep = await connect(net, sb, {
      ...(bandwidth ? { bandwidth } : {}),
      ...(argv.ip ? { ips: argv.ip } : {}),
      ...(argv.ifname !== undefined ? { ifname: argv.ifname } : {}),
      ...(argv.alias ? { aliases: argv.alias.map(String) } : {}),
    });
    const j = ep.record.join;
    print(`${sb.name} ${j?.ifname ?? ''}${ep.addresses.length > 0 ? ` ${ep.addresses.join(' ')}` : ''}`.trimEnd());
  },
};

interface DisconnectArgs extends GlobalArgs {
  network: string;
  sandbox: string;
}

export const disconnectCommand: CommandModule<GlobalArgs, DisconnectArgs> = {
  command: 'disconnect <network> <sandbox>',
  describe: 'disconnect a sandbox from a network: its interface is deleted and its address released',
  builder: (y) =>
    y
      .positional('network', { type: 'string', demandOption: true })
      .positional('sandbox', { type: 'string', demandOption: true })
      .example('$0 disconnect web app', "app's interface on web is gone; app itself stays") as Argv<DisconnectArgs>,
  handler: async (argv) => {
    const ctl = await openController(argv, 'disconnect');
    await disconnect(ctl.network(argv.network), argv.sandbox);
    print(argv.sandbox);
  },
};
