// Builds the native binding as the package's prebuild (prebuildify: N-API, so one file serves every
// Node >= 20 on this platform, arch and libc), for `npm pack` (prepack). node-gyp-build picks it at
// install and at load. Offline: node-gyp takes the headers of this Node (npm's `nodedir`, or the
// prefix this node runs from), never a download.

import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const addonDir = join(root, 'netlink');
const require = createRequire(import.meta.url);
const prebuildify = require('prebuildify');

// npm names its own node-gyp to scripts; node-gyp is not a dependency of berth.
const nodeGyp = process.env.npm_config_node_gyp;
if (!nodeGyp) {
  console.error("scripts/prebuild.mjs uses npm's node-gyp: run it through npm (`npm pack` runs it as prepack)");
  process.exit(1);
}
if (!process.env.npm_config_nodedir) {
  const prefix = join(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node.h'))) process.env.npm_config_nodedir = prefix;
}

const options = {
  cwd: addonDir,
  napi: true,
  // The file's first tags: node-gyp-build reads `napi` as "any ABI"; prebuildify 6 leaves it out otherwise.
  name: 'node.napi',
  tagLibc: true,
  strip: true,
  // This Node's version: without one prebuildify asks node-gyp for the newest Node's headers.
  targets: [process.versions.node],
  nodeGyp,
  // node-gyp's folder for downloaded headers, which the nodedir above leaves empty: ours, removed after.
  cache: mkdtempSync(join(tmpdir(), 'berth-prebuild-')),
};
rmSync(join(addonDir, 'prebuilds'), { recursive: true, force: true });
try {
  await new Promise((resolve, reject) => prebuildify(options, (err) => (err ? reject(err) : resolve())));
} finally {
  rmSync(options.cache, { recursive: true, force: true });
}

const tuple = `${process.platform}-${process.arch}`;
const folder = join(addonDir, 'prebuilds', tuple);
const built = readdirSync(folder).filter((f) => f.endsWith('.node'));
if (built.length !== 1) {
  console.error(`expected one prebuild in ${folder}, found ${built.join(', ') || 'none'}`);
  process.exit(1);
}
const prebuild = join(folder, built[0]);
const loaded = require(prebuild);
if (typeof loaded.openSocket !== 'function') {
  console.error(`${prebuild} loads but is not berth's binding`);
  process.exit(1);
}
// prebuildify moves its output out of build/Release; the source tree keeps a binding there, as after `npm ci`.
const release = join(addonDir, 'build', 'Release');
mkdirSync(release, { recursive: true });
copyFileSync(prebuild, join(release, 'berth_netlink.node'));
console.log(`prebuilt ${prebuild.slice(root.length + 1)}`);
