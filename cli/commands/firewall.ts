import type { CommandModule } from 'yargs';
import { type GlobalArgs, openController } from '../context.js';
import { print } from '../output.js';

export const firewallCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'firewall <command>',
  describe: "berth's packet filter rules",
  builder: (y) =>
    y
      .command({
        command: 'reload',
        describe:
          'apply every recorded rule again, after the ruleset was flushed (a firewalld reload, nft flush ruleset)',
        builder: (z) => z.example('$0 firewall reload', 'networks, published ports and CNI attachments come back'),
        handler: async (argv) => {
          const ctl = await openController(argv as unknown as GlobalArgs, 'firewall reload');
          await ctl.reloadFirewall();
          const fw = await ctl.firewall.firewall();
          print(`reloaded the rules of ${(await fw.owners()).length} owner(s) (${fw.backend})`);
        },
      })
      .demandCommand(1, 'name a firewall command: reload'),
  handler: () => {},
};
