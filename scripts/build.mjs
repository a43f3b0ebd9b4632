// Bundles each executable into one CommonJS file (fast start-up: one file to
// read, nothing loaded that the entry does not use), compiles the thin CNI client
// (netlink/src/cni-client.c) under each plugin's name, and copies the native binding
// beside the CNI plugins (dist/cni is whole: copying its files anywhere gives
// working plugins) and into dist/native (for dist/bin and dist/lib in this tree).
//
// dist/cni: <plugin> is the client, <plugin>.js the plugin in-process, berth-daemon.js the daemon
// that serves them all warm, berth_netlink.node the binding.

import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const final = join(root, 'dist');
// Built beside and swapped in by two renames at the end: a plugin running from dist/ never meets a half-made one.
const dist = join(root, `.dist-${process.pid}`);
const nodeRequire = createRequire(import.meta.url);
const binding = findBinding();

// The interpreter is an absolute path, so a runtime whose PATH has no `node` still runs the plugins.
// Node reads and parses all of NODE_EXTRA_CA_CERTS at start-up, about 100 ms for a distribution's
// bundle; berth makes no TLS connection, and a plugin inherits that variable from whoever runs the
// runtime, so env drops it before Node starts (one exec, under a millisecond).
const nodeShebang = envSplitWorks()
  ? `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS ${process.execPath}`
  : `#!${process.execPath}`;
// The CLI is also the bin of the npm package, installed where this Node's path means nothing: it runs
// the `node` on PATH, as npm's bins do. It starts as a shell script that drops the variable and execs
// Node on itself; to Node the second line is a string and a comment. (`env -S` would do it in one
// line, but busybox's env has no -S.)
const cliShebang = `#!/bin/sh\n':' //; unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@"`;
// BERTH_RUNTIME=/path/to/bun puts another interpreter in the CNI plugins' shebang (README, "Start-up").
// The CLI stays on Node. Unset, the build is what it always was.
const runtime = process.env.BERTH_RUNTIME || process.execPath;
const isBun = runtime !== process.execPath && probeBun(runtime);

const plugins = [
  ['plugins/bridge/main.ts', 'berth-bridge'],
  ['plugins/ipam/main.ts', 'berth-ipam'],
  ['plugins/loopback/main.ts', 'berth-loopback'],
  ['plugins/portmap/main.ts', 'berth-portmap'],
  ['plugins/berth/main.ts', 'berth'],
  ['plugins/dns/main.ts', 'berth-dns'],
  ['plugins/macvlan/main.ts', 'berth-macvlan'],
  ['plugins/bandwidth/main.ts', 'berth-bandwidth'],
];
const executables = [
  ...plugins.map(([entry, name]) => [entry, `cni/${name}.js`, 'plugin']),
  ['daemon/main.ts', 'cni/berth-daemon.js', 'daemon'],
  ['cli/main.ts', 'bin/berth', 'node'],
];
const client = join(root, 'netlink', 'src', 'cni-client.c');
const modules = [
  ['index.ts', 'lib/index.js'],
  ['bench/run.ts', 'bench/run.js'],
  // The name service's process, started detached on demand; beside the plugins, which start it too.
  ['cli/names-main.ts', 'cni/berth-names.js'],
];

rmSync(dist, { recursive: true, force: true });
for (const part of ['native', 'cni']) {
  mkdirSync(join(dist, part), { recursive: true });
  copyFileSync(binding, join(dist, part, 'berth_netlink.node'));
}
writeFileSync(join(dist, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

// A getter: only the binding's loader asks, and node:url costs Bun milliseconds at start-up.
const importMetaUrl =
  "const __importMeta = { get url() { return require('node:url').pathToFileURL(__filename).href; } };";

// Node's built-in modules that its own start-up does not load: each costs milliseconds to evaluate
// (net and tty pull in the streams, crypto its bindings) and a bundle requires every import at load,
// though a VERSION call or a DEL without a firewall never uses them. The bundle gets a stand-in
// whose getters require the real module on first use.
const LAZY_BUILTINS = ['child_process', 'crypto', 'module', 'net', 'os', 'tty'];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === 'lazy-builtin'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const names = Object.keys(nodeRequire(`node:${args.path}`));
      return {
        loader: 'js',
        contents: [
          'let real;',
          `const load = () => (real ??= require('node:${args.path}'));`,
          `module.exports = Object.defineProperties({}, Object.fromEntries(${JSON.stringify(names)}.map((name) => [name, { enumerable: true, get: () => load()[name] }])));`,
        ].join('\n'),
      };
    });
  },
};

// The etcd client loads its gRPC definitions from files beside it, so it stays a package of its own
// (a dependency), required on first use by the CLI and the library only.
const EXTERNAL = ['etcd3'];
/** `await import('etcd3')` as esbuild keeps it: loaded when the call runs, not when the bundle loads. */
const LAZY_IMPORT = 'await import("etcd3")';

const common = {
  plugins: [lazyBuiltins],
  external: EXTERNAL,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  legalComments: 'none',
  // ESM sources (ours, yargs) locate files through import.meta.url; in a CommonJS bundle it comes from __filename.
  define: { 'import.meta.url': '__importMeta.url' },
};

/**
 * Bun runs every file through its own transpiler first (a third of a plugin's start-up there) unless the
 * file says it is Bun's own CommonJS output: this pragma and the function it wraps the module in.
 */
const bunWrap = {
  banner: '// @bun @bun-cjs\n(function (exports, require, module, __filename, __dirname) {',
  footer: '})',
};

function probeBun(file) {
  if (!isAbsolute(file)) fail(`BERTH_RUNTIME must be an absolute path (it becomes the plugins' shebang), not ${file}`);
  const r = spawnSync(file, ['-e', "process.stdout.write(typeof Bun === 'undefined' ? 'node' : 'bun')"], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0)
    fail(`BERTH_RUNTIME=${file} does not run (exit ${r.status ?? r.signal}): ${r.error?.message ?? r.stderr}`);
  return r.stdout === 'bun';
}

/** Every plugin answers VERSION under the runtime it was built for, or dist/ is not replaced. */
function checkRuns(file) {
  const r = spawnSync(file, [], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: 'VERSION' },
    input: '{"cniVersion":"1.0.0"}',
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0 || !r.stdout.includes('supportedVersions')) {
    fail(`${file} does not answer VERSION under ${runtime}: exit ${r.status ?? r.signal} ${r.stdout}${r.stderr}`);
  }
}

function fail(message) {
  console.error(message);
  rmSync(dist, { recursive: true, force: true });
  process.exit(1);
}

const built = [];
for (const [entry, out, kind] of executables) {
  if (!existsSync(join(root, entry))) continue;
  const outfile = join(dist, out);
  const onRuntime = kind !== 'node' && runtime !== process.execPath;
  const shebang = onRuntime ? `#!${runtime}` : out === 'bin/berth' ? cliShebang : nodeShebang;
  const wrap = onRuntime && isBun ? bunWrap : { banner: '', footer: '' };
  await build({
    ...common,
    entryPoints: [join(root, entry)],
    outfile,
    banner: { js: [shebang, wrap.banner, importMetaUrl].filter(Boolean).join('\n') },
    footer: { js: wrap.footer },
  });
  chmodSync(outfile, 0o755);
  // dist/cni is copied anywhere on its own: a plugin that required a package would not run there.
  if (out.startsWith('cni/')) {
    // The daemon also serves the library, whose overlay networks load the etcd client on first use
    // (a dynamic import, as in the CLI); a CNI call never does, and nothing loads it at start-up.
    const text =
      kind === 'daemon' ? readFileSync(outfile, 'utf8').replaceAll(LAZY_IMPORT, '') : readFileSync(outfile, 'utf8');
    const used = EXTERNAL.filter((name) => text.includes(`require("${name}")`) || text.includes(`import("${name}")`));
    if (used.length > 0) fail(`${out} requires ${used.join(', ')}: the CNI plugins must not load the etcd client`);
  }
  if (onRuntime && kind === 'plugin') checkRuns(outfile);
  built.push(out);
}
compileClient();
for (const [entry, out] of modules) {
  if (!existsSync(join(root, entry))) continue;
  await build({ ...common, entryPoints: [join(root, entry)], outfile: join(dist, out), banner: { js: importMetaUrl } });
  built.push(out);
}
// The library's types, for `import { Controller } from 'berth'` in TypeScript.
const tsc = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    join(root, 'tsconfig.build.json'),
    '--outDir',
    join(dist, 'types'),
  ],
  { encoding: 'utf8' },
);
if (tsc.status !== 0) {
  console.error(`declarations failed:\n${tsc.stdout}${tsc.stderr}`);
  process.exit(1);
}
built.push('types/index.d.ts');

const old = join(root, `.dist-old-${process.pid}`);
if (existsSync(final)) renameSync(final, old);
renameSync(dist, final);
rmSync(old, { recursive: true, force: true });
console.log(
  `built ${built.map((b) => `dist/${b}`).join(', ')}${runtime === process.execPath ? '' : `; CNI plugins run on ${runtime}`}`,
);

/**
 * The thin client, once, then copied under each plugin's name (the name is how it knows its plugin).
 * Only libc: a copy runs on any glibc machine of this architecture.
 */
function compileClient() {
  const out = join(dist, 'cni', '.berth-cni');
  const cc = process.env.CC || 'cc';
  const r = spawnSync(cc, ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-s', '-o', out, client], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) {
    fail(`compiling ${client} with ${cc} failed (${r.error?.message ?? `exit ${r.status}`}): ${r.stderr}`);
  }
  for (const [, name] of plugins) {
    copyFileSync(out, join(dist, 'cni', name));
    chmodSync(join(dist, 'cni', name), 0o755);
    built.push(`cni/${name}`);
  }
  rmSync(out);
}

/** The binding as node-gyp-build finds it in netlink/: a build from source (`npm ci`), else a prebuild. */
function findBinding() {
  try {
    return nodeRequire('node-gyp-build').path(join(root, 'netlink'));
  } catch (e) {
    console.error(`no native binding in netlink/ (${e.message.trim()}): run \`npm ci\` (its install step builds it)`);
    process.exit(1);
  }
}

/** Whether /usr/bin/env splits a shebang's argument (-S, coreutils 8.30 and later). */
function envSplitWorks() {
  if (/\s/.test(process.execPath)) return false;
  const r = spawnSync('/usr/bin/env', ['-S', '-u NODE_EXTRA_CA_CERTS true'], { stdio: 'ignore' });
  return r.status === 0;
}
