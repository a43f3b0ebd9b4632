import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BINDING_FILE } from '../base/binding.js';
import { BerthError, ErrorCode } from '../base/errors.js';
import { writeFileAtomic } from '../base/files.js';
import { EXAMPLE_CONFLIST_NAME, exampleConflistText } from './conflist.js';

export interface InstallOptions {
  /** The build to install from: a folder with cni/ (dist), its binding in cni/ or native/. */
  readonly from: string;
  /** The binding to install instead of the build's own, e.g. the one this berth loads. */
  readonly binding?: string;
  /** Where the plugins go, e.g. /opt/cni/bin. */
  readonly dir: string;
  /** Where the example conflist goes, e.g. /etc/cni/net.d; none when absent. */
  readonly conf?: string;
  /** Overwrite an existing conflist. */
  readonly force?: boolean;
  /** The interpreter the plugins are run with (their #! line); default this Node. */
  readonly interpreter?: string;
}

export interface Installed {
  readonly plugins: readonly string[];
  readonly binding: string;
  readonly interpreter: string;
  /** The conflist's path, and whether it was written or an existing one was left alone. */
  readonly conflist?: { readonly path: string; readonly written: boolean };
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

const failure = (msg: string, fix: string) => new BerthError(ErrorCode.IOFailure, msg, fix);

/** The dist folder this berth was built into (dist/bin/berth -> dist), or the source tree's dist. */
export function defaultBuildDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..'), join(here, '..', 'dist')];
  return candidates.find((d) => existsSync(join(d, 'cni'))) ?? candidates[0]!;
}

/**
 * The plugin with its #! line pointing at the interpreter, so it runs whatever PATH the runtime gives.
 * A build's line that starts the interpreter through /usr/bin/env with options keeps them.
 */
export function withInterpreter(script: Buffer, interpreter: string): Buffer {
  const text = script.toString('utf8');
  if (!text.startsWith('#!')) return Buffer.concat([Buffer.from(`#!${interpreter}\n`), script]);
  const eol = text.indexOf('\n');
  const words = text
    .slice(2, eol < 0 ? undefined : eol)
    .trim()
    .split(/\s+/);
  const viaEnv = words[0] === '/usr/bin/env' && words.length > 2 ? `${words.slice(0, -1).join(' ')} ` : '';
  return Buffer.from(`#!${viaEnv}${interpreter}${eol < 0 ? '\n' : text.slice(eol)}`);
}

function checkInterpreter(path: string): void {
  if (/\s/.test(path) || !path.startsWith('/')) {
    throw failure(
      `the interpreter path ${JSON.stringify(path)} cannot be a #! line`,
      'give --interpreter an absolute path without spaces, e.g. /usr/bin/node',
    );
  }
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw failure(`the interpreter ${path} is not an executable file`, 'give --interpreter the path of node (>= 20)');
  }
}

/**
 * Copies the built CNI plugins (the thin clients, the bundles they run in-process and the daemon's)
 * and the native binding into `dir` (they find each other there), each bundle's #! line set to a
 * working interpreter; with `conf`, writes the example conflist there unless one exists.
 */
export function installPlugins(options: InstallOptions): Installed {
  const cniDir = join(options.from, 'cni');
  const bindingFile =
    options.binding ??
    [join(cniDir, BINDING_FILE), join(options.from, 'native', BINDING_FILE)].find((f) => existsSync(f));
  let plugins: string[];
  try {
    plugins = readdirSync(cniDir)
      .filter((f) => statSync(join(cniDir, f)).isFile() && !f.startsWith('.') && f !== BINDING_FILE)
      .sort();
  } catch {
    plugins = [];
  }
  if (plugins.length === 0 || bindingFile === undefined || !existsSync(bindingFile)) {
    throw failure(
      `no built plugins in ${options.from} (looked for cni/* and ${BINDING_FILE} in cni/ or native/)`,
      'build them with `node scripts/build.mjs`, or give --from the dist folder of a build',
    );
  }
  const interpreter = options.interpreter ?? process.execPath;
  checkInterpreter(interpreter);
  try {
    mkdirSync(options.dir, { recursive: true, mode: 0o755 });
    for (const p of plugins) {
      const content = readFileSync(join(cniDir, p));
      // The thin clients are native executables, copied as they are; the bundles get the interpreter.
      const native = content.subarray(0, 4).equals(ELF_MAGIC);
      writeFileAtomic(join(options.dir, p), native ? content : withInterpreter(content, interpreter), 0o755);
    }
    writeFileAtomic(join(options.dir, BINDING_FILE), readFileSync(bindingFile), 0o755);
  } catch (e) {
    if (e instanceof BerthError) throw e;
    throw failure(
      `cannot install into ${options.dir}: ${(e as Error).message}`,
      'run as root, or give --dir a writable folder',
    );
  }
  const installed = { plugins, binding: join(options.dir, BINDING_FILE), interpreter };
  if (options.conf === undefined) return installed;
  const path = join(options.conf, EXAMPLE_CONFLIST_NAME);
  if (existsSync(path) && !options.force) return { ...installed, conflist: { path, written: false } };
  try {
    mkdirSync(options.conf, { recursive: true, mode: 0o755 });
    writeFileAtomic(path, exampleConflistText(), 0o644);
  } catch (e) {
    throw failure(`cannot write ${path}: ${(e as Error).message}`, 'run as root, or give --conf a writable folder');
  }
  return { ...installed, conflist: { path, written: true } };
}
