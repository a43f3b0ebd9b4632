import type { Argv, CommandModule } from 'yargs';
import { findBinding } from '../../base/binding.js';
import type { GlobalArgs } from '../context.js';
import { defaultBuildDir, installPlugins } from '../install.js';
import { print } from '../output.js';

interface InstallArgs extends GlobalArgs {
  dir: string;
  conf?: string;
  force: boolean;
  from?: string;
  interpreter?: string;
}

export const installPluginsCommand: CommandModule<GlobalArgs, InstallArgs> = {
  command: 'install-plugins',
  describe: "install berth's CNI plugins (and their native binding) where runtimes look for them",
  builder: (y) =>
    y
      .option('dir', { type: 'string', default: '/opt/cni/bin', describe: 'the CNI plugin folder' })
      .option('conf', {
        type: 'string',
        describe: 'also write an example berth-bridge.conflist here, e.g. /etc/cni/net.d',
      })
      .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing example conflist' })
      .option('from', { type: 'string', describe: 'the build to install (default: the dist this berth came from)' })
      .option('interpreter', { type: 'string', describe: "the plugins' #! interpreter (default: this node)" })
      .example('$0 install-plugins', 'into /opt/cni/bin')
      .example(
        '$0 install-plugins --dir /usr/libexec/cni --conf /etc/cni/net.d',
        "podman's folder, with a conflist",
      ) as Argv<InstallArgs>,
  handler: (argv) => {
    // Without --from, the binding is the one this berth loads: an installed package's may be a build
    // from source where the prebuild beside the plugins does not fit the machine.
    const binding = argv.from === undefined ? findBinding() : undefined;
    const r = installPlugins({
      from: argv.from ?? defaultBuildDir(),
      ...(binding !== undefined ? { binding } : {}),
      dir: argv.dir,
      force: argv.force,
      ...(argv.conf !== undefined ? { conf: argv.conf } : {}),
      ...(argv.interpreter !== undefined ? { interpreter: argv.interpreter } : {}),
    });
    const lines = r.plugins.map((p) => `installed ${argv.dir}/${p}`);
    lines.push(`installed ${r.binding}`, `interpreter ${r.interpreter}`);
    if (r.conflist) {
      lines.push(
        r.conflist.written ? `wrote ${r.conflist.path}` : `kept ${r.conflist.path} (it exists; --force overwrites it)`,
      );
    }
    print(lines.join('\n'));
  },
};
