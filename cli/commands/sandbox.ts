import type { Argv, CommandModule } from 'yargs';
import { validateName } from '../../network/config.js';
import { sandboxView } from '../../network/views.js';
import { assertNetnsNameFree } from '../attach.js';
import { type GlobalArgs, openController } from '../context.js';
import { type DnsArgs, sandboxDnsOf, withDnsOptions } from '../dns-options.js';
import { parseMode } from '../modes.js';
import { print, printJson } from '../output.js';
import { removeSandboxes } from '../removal.js';
import { sandboxTable, sandboxText } from '../views.js';

interface CreateArgs extends GlobalArgs, DnsArgs {
  name: string;
  mode: string;
}

const create: CommandModule<GlobalArgs, CreateArgs> = {
  command: 'create <name>',
  describe: "create a sandbox: a container's network stack",
  builder: (y) =>
    withDnsOptions(y)
      .positional('name', { type: 'string', demandOption: true, describe: 'the sandbox name (also its netns name)' })
      .option('mode', {
        type: 'string',
        default: 'none',
        describe: "none: a new netns with lo up; host: the host's netns; container:NAME: the netns of sandbox NAME",
      })
      .example('$0 sandbox create web', 'a new netns /run/netns/web; connect it to a network next')
      .example('$0 sandbox create sidecar --mode container:web', "shares web's netns, interfaces and addresses")
      .example('$0 sandbox create tools --mode host', "uses the host's network as is")
      .example(
        '$0 sandbox create app --dns 192.0.2.53 --add-host db:10.89.0.9',
        'its own resolv.conf and hosts',
      ) as Argv<CreateArgs>,
  handler: async (argv) => {
    const mode = parseMode(argv.mode);
    const dns = sandboxDnsOf(argv);
    const ctl = await openController(argv, 'sandbox create');
    if (mode.mode === 'container') ctl.sandbox(mode.shareWith);
    const name = validateName(argv.name, 'sandbox');
    if (mode.mode === 'none' && !ctl.store.read('sandboxes', name)) assertNetnsNameFree(ctl, name);
    const sb = await ctl.createSandbox({ name, ...mode, ...dns });
    print(sb.name);
  },
};

interface ListArgs extends GlobalArgs {
  json: boolean;
}

const jsonOption = { type: 'boolean', default: false, describe: 'print JSON (see docs/cli for the shape)' } as const;

const ls: CommandModule<GlobalArgs, ListArgs> = {
  command: ['ls', 'list'],
  describe: 'list the sandboxes',
  builder: (y) =>
    y
      .option('json', jsonOption)
      .example('$0 sandbox ls', 'a table: name, mode, netns, interfaces')
      .example('$0 sandbox ls --json', 'the same as a JSON array'),
  handler: async (argv) => {
    const ctl = await openController(argv, 'sandbox ls');
    const endpoints = ctl.endpointRecords();
    const views = ctl.sandboxes().map((s) => sandboxView(s.record, endpoints));
    if (argv.json) printJson(views);
    else print(sandboxTable(views));
  },
};

interface NamesArgs extends GlobalArgs {
  names: string[];
  json: boolean;
}

const inspect: CommandModule<GlobalArgs, NamesArgs> = {
  command: 'inspect <names..>',
  describe: 'show sandboxes in detail: mode, netns, interfaces and addresses',
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true, demandOption: true, describe: 'sandbox names' })
      .option('json', { ...jsonOption, describe: 'print a JSON array, one object per sandbox' })
      .example('$0 sandbox inspect web', 'its netns and interfaces')
      .example(
        '$0 sandbox inspect web --json | jq -r ".[0].endpoints[0].addresses[0]"',
        'its first address',
      ) as Argv<NamesArgs>,
  handler: async (argv) => {
    const ctl = await openController(argv, 'sandbox inspect');
    const sandboxes = argv.names.map((n) => ctl.sandbox(n));
    const endpoints = ctl.endpointRecords();
    const views = sandboxes.map((s) => sandboxView(s.record, endpoints));
    if (argv.json) printJson(views);
    else print(views.map(sandboxText).join('\n'));
  },
};

const rm: CommandModule<GlobalArgs, NamesArgs> = {
  command: ['rm <names..>', 'remove <names..>'],
  describe: 'remove sandboxes: disconnect them from every network, then delete their netns',
  builder: (y) =>
    y
      .positional('names', { type: 'string', array: true, demandOption: true, describe: 'sandbox names' })
      .example('$0 sandbox rm web', 'its endpoints are removed, its addresses released, its netns deleted')
      .example('$0 sandbox rm a b c', 'all of them, or none when one is unknown') as Argv<NamesArgs>,
  handler: async (argv) => {
    const ctl = await openController(argv, 'sandbox rm');
    for (const name of await removeSandboxes(ctl, argv.names)) print(name);
  },
};

export const sandboxCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'sandbox',
  describe: 'create, list, inspect and remove sandboxes (network namespaces)',
  builder: (y) =>
    y
      .command(create)
      .command(ls)
      .command(inspect)
      .command(rm)
      .demandCommand(1, 'name a sandbox command: create, ls, inspect or rm')
      .example('$0 sandbox create app', 'a netns with lo up, /run/netns/app')
      .example('$0 sandbox ls', 'the sandboxes and their interfaces')
      .example('$0 sandbox rm app', 'disconnected from every network and deleted'),
  handler: () => undefined,
};
