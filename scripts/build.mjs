// Bundles each executable into one CommonJS file (fast start-up: one file to
// read, nothing loaded that the entry does not use) and copies the native binding.

import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const final = join(root, 'dist');
// Built beside and swapped in by two renames at the end: a plugin running from dist/ never meets a half-made one.
const dist = join(root, `.dist-${process.pid}`);
const binding = join(root, 'netlink', 'build', 'Release', 'berth_netlink.node');

// The interpreter is an absolute path, so a runtime whose PATH has no `node` still runs the plugins.
const shebang = `#!${process.execPath}`;

const executables = [
  ['plugins/bridge/main.ts', 'cni/berth-bridge'],
  ['plugins/ipam/main.ts', 'cni/berth-ipam'],
  ['plugins/loopback/main.ts', 'cni/berth-loopback'],
  ['plugins/portmap/main.ts', 'cni/berth-portmap'],
  ['plugins/berth/main.ts', 'cni/berth'],
  ['cli/main.ts', 'bin/berth'],
];
const modules = [
  ['index.ts', 'lib/index.js'],
  ['bench/run.ts', 'bench/run.js'],
];

if (!existsSync(binding)) {
  console.error(`missing ${binding}: run \`npm ci\` (its install step builds the native binding)`);
  process.exit(1);
}
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'native'), { recursive: true });
copyFileSync(binding, join(dist, 'native', 'berth_netlink.node'));
writeFileSync(join(dist, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

const importMetaUrl = "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;";

// Node's built-in modules that its own start-up does not load: each costs milliseconds to evaluate
// (net and tty pull in the streams, crypto its bindings) and a bundle requires every import at load,
// though a VERSION call or a DEL without a firewall never uses them. The bundle gets a stand-in
// whose getters require the real module on first use.
const LAZY_BUILTINS = ['child_process', 'crypto', 'module', 'net', 'os', 'tty'];
const nodeRequire = createRequire(import.meta.url);
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

const common = {
  plugins: [lazyBuiltins],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  legalComments: 'none',
  // ESM sources (ours, yargs) locate files through import.meta.url; in a CommonJS bundle it comes from __filename.
  define: { 'import.meta.url': '__importMetaUrl' },
};

const built = [];
for (const [entry, out] of executables) {
  if (!existsSync(join(root, entry))) continue;
  const outfile = join(dist, out);
  await build({ ...common, entryPoints: [join(root, entry)], outfile, banner: { js: `${shebang}\n${importMetaUrl}` } });
  chmodSync(outfile, 0o755);
  built.push(out);
}
for (const [entry, out] of modules) {
  if (!existsSync(join(root, entry))) continue;
  await build({ ...common, entryPoints: [join(root, entry)], outfile: join(dist, out), banner: { js: importMetaUrl } });
  built.push(out);
}
const old = join(root, `.dist-old-${process.pid}`);
if (existsSync(final)) renameSync(final, old);
renameSync(dist, final);
rmSync(old, { recursive: true, force: true });
console.log(`built ${built.map((b) => `dist/${b}`).join(', ')}`);
