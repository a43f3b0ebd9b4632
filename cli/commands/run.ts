import type { Argv, CommandModule } from 'yargs';
import { BANDWIDTH_OPTIONS, type BandwidthArgs, parseBandwidthArgs } from '../bandwidth.js';
import { type GlobalArgs, openController } from '../context.js';
import { type DnsArgs, sandboxDnsOf, withDnsOptions } from '../dns-options.js';
import { parseRunNetwork } from '../modes.js';
import { parsePublishList } from '../ports.js';
import { runInSandbox } from '../run.js';

interface RunArgs extends GlobalArgs, DnsArgs, BandwidthArgs {
  network: string;
  name?: string;
  keep: boolean;
  publish?: string[];
  alias?: string[];
  command?: string[];
  '--'?: string[];
}

export const runCommand: CommandModule<GlobalArgs, RunArgs> = {
  command: 'run [command..]',
  describe: "run a command in a new sandbox; its exit status is berth's",
  builder: (y) =>
    withDnsOptions(y)
      .parserConfiguration({ 'populate--': true })
      .positional('command', { type: 'string', array: true, describe: 'the command and its arguments, after --' })
      .option('network', {
        type: 'string',
        default: 'none',
        describe: "a network's name, or none (only lo), host (the host's netns), container:NAME (NAME's netns)",
      })
      .option('name', { type: 'string', describe: 'the sandbox name (default run-<random>)' })
      .option('keep', { type: 'boolean', default: false, describe: 'keep the sandbox after the command exits' })
      .option('publish', {
        alias: 'p',
        type: 'string',
        array: true,
        describe: 'publish [IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp|sctp] on the host (bridge networks)',
      })
      .option('alias', {
        type: 'string',
        array: true,
        describe: "another name for the sandbox on the network's name service (repeat for more)",
      })
      .options(BANDWIDTH_OPTIONS)
      .example('$0 run --network web -- ip -j addr', 'the process sees eth0 with its address on web')
      .example('$0 run --network web --egress-rate 20mbit -- curl ...', 'what it sends goes out at 20 Mbit/s at most')
      .example('$0 run --network web --name db --alias database --keep -- sleep 600', 'found as db and database on web')
      .example('$0 run --network web -- getent hosts db', "the network's name service answers")
      .example('$0 run --network host -- ss -ltn', "the host's network as is")
      .example('$0 run --network container:db -- cat /proc/net/dev', 'the netns of sandbox db')
      .example('$0 run --network web --name api --keep -- true', 'the sandbox stays for later commands')
      .example(
        '$0 run --network web -p 8080:80 -- node server.js',
        'port 8080 of the host reaches port 80',
      ) as Argv<RunArgs>,
  handler: async (argv) => {
    const command = argv['--'] && argv['--'].length > 0 ? argv['--'] : (argv.command ?? []);
    const options = {
      network: parseRunNetwork(argv.network),
      ...(argv.name !== undefined ? { name: argv.name } : {}),
      keep: argv.keep,
      publish: parsePublishList(argv.publish ?? []),
      aliases: (argv.alias ?? []).map(String),
      ...sandboxDnsOf(argv),
      bandwidth: parseBandwidthArgs(argv),
      command: command.map(String),
    };
    const ctl = await openController(argv, 'run');
    process.exitCode = await runInSandbox(ctl, options, (line) => process.stderr.write(`${line}\n`));
  },
};
