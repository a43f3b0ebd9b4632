/**
 * The layers point one way: base <- netlink <- iptables/network <- plugins/cli, with the
 * daemon over the plugins, and nothing but cli over the daemon. The kernel stays below the
 * network layer: plugins, the daemon and cli reach it through network/, never netlink/ itself.
 * bench/ and scripts/ are no layer: nothing in the product imports them.
 * Every product file is read and each relative import it makes is checked
 * against the layers its own layer may use. Type-only imports count too: a
 * type from a higher layer ties the lower one to it all the same.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** What each layer may import; the library's entry (index.ts) sits with cli on top (it exports the daemon's client). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  base: [],
  netlink: ['base'],
  iptables: ['base', 'netlink'],
  network: ['base', 'netlink', 'iptables'],
  plugins: ['base', 'iptables', 'network'],
  daemon: ['base', 'iptables', 'network', 'plugins'],
  cli: ['base', 'iptables', 'network', 'daemon'],
  'index.ts': ['base', 'netlink', 'iptables', 'network', 'daemon'],
};

// A statement starts at the beginning of a line (the formatter puts it there), so
// doc comments that show an import (` *   import ...`) are not taken for one.
const STATIC = /^(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The module specifiers a source file imports or re-exports. */
function importsOf(source: string): string[] {
  const specs: string[] = [];
  for (const m of source.matchAll(STATIC)) specs.push((m[1] ?? m[2])!);
  for (const m of source.matchAll(DYNAMIC)) specs.push(m[1]!);
  return specs;
}

/** The layer of a path relative to the root: its first folder, or the file itself at the top. */
const layerOf = (path: string): string => path.split('/')[0]!;

/** Why `spec`, imported by the product file at `file` (relative to the root), runs up the layers; '' when it does not. */
function violation(file: string, spec: string): string {
  if (!spec.startsWith('.')) return '';
  const from = layerOf(file);
  const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
  const to = layerOf(target);
  if (to === from) return '';
  const allowed = ALLOWED[from] ?? [];
  if (allowed.includes(to)) return '';
  return `${file} imports '${spec}' (${to}/): ${from} may import ${allowed.length ? allowed.join(', ') : 'no other layer'}`;
}

function productFiles(): string[] {
  const files: string[] = [];
  const visit = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'build' && entry.name !== 'node_modules') visit(path);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
        files.push(path);
      }
    }
  };
  for (const layer of Object.keys(ALLOWED)) {
    if (layer.endsWith('.ts')) files.push(layer);
    else visit(layer);
  }
  return files;
}

describe('layers', () => {
  it('finds every kind of import statement, and none in comments', () => {
    const source = [
      "import { a } from '../base/a.js';",
      "import type { B } from '../network/b.js';",
      'import {',
      '  c,',
      '  type D,',
      "} from '../iptables/c.js';",
      "export { e } from './e.js';",
      "export * as f from '../netlink/f.js';",
      "import '../plugins/g.js';",
      "const h = await import('../cli/h.js');",
      " *   import { x } from '../cli/in-a-comment.js';",
      "export const i = 'from';",
      "export const j = './k.js';",
    ].join('\n');
    expect(importsOf(source)).toEqual([
      '../base/a.js',
      '../network/b.js',
      '../iptables/c.js',
      './e.js',
      '../netlink/f.js',
      '../plugins/g.js',
      '../cli/h.js',
    ]);
  });

  it('names a file that imports up or sideways, and lets the rest pass', () => {
    expect(violation('iptables/model.ts', '../network/errors.js')).toBe(
      "iptables/model.ts imports '../network/errors.js' (network/): iptables may import base, netlink",
    );
    expect(violation('base/files.ts', '../netlink/binding.js')).toMatch(/base may import no other layer/);
    expect(violation('cli/run.ts', '../plugins/netns.js')).toMatch(/^cli\/run\.ts imports/);
    expect(violation('plugins/skel/env.ts', '../../cli/output.js')).toMatch(/^plugins\/skel\/env\.ts imports/);
    expect(violation('netlink/links.ts', '../test/helpers/netns.js')).toMatch(/\(test\/\)/);
    expect(violation('network/ipam/range.ts', '../../base/errors.js')).toBe('');
    expect(violation('plugins/bridge/bridge.ts', '../../network/controller.js')).toBe('');
    expect(violation('netlink/handle.ts', './links.js')).toBe('');
    expect(violation('index.ts', './network/controller.js')).toBe('');
    expect(violation('cli/main.ts', 'yargs')).toBe('');
    expect(violation('daemon/calls.ts', '../plugins/skel/skel.js')).toBe('');
    expect(violation('cli/commands/daemon.ts', '../../daemon/daemon.js')).toBe('');
    expect(violation('plugins/skel/main.ts', '../../daemon/protocol.js')).toMatch(/plugins may import/);
    expect(violation('network/ports.ts', '../daemon/daemon.js')).toMatch(/network may import/);
    expect(violation('plugins/bridge/config.ts', '../../netlink/index.js')).toMatch(
      /\(netlink\/\): plugins may import/,
    );
    expect(violation('cli/demo.ts', '../netlink/handle.js')).toMatch(/\(netlink\/\): cli may import/);
    expect(violation('daemon/server.ts', '../netlink/netns.js')).toMatch(/\(netlink\/\): daemon may import/);
    expect(violation('network/ports.ts', '../bench/lib.js')).toMatch(/\(bench\/\)/);
    expect(violation('cli/main.ts', '../scripts/build.mjs')).toMatch(/\(scripts\/\)/);
  });

  it('no product file imports up the layers', () => {
    const files = productFiles();
    let imports = 0;
    const found: string[] = [];
    for (const file of files) {
      const specs = importsOf(readFileSync(join(ROOT, file), 'utf8'));
      imports += specs.length;
      for (const spec of specs) {
        const why = violation(file, spec);
        if (why) found.push(why);
      }
    }
    // The scan itself works: it read the tree and found its imports.
    expect(files).toContain('base/errors.ts');
    expect(imports).toBeGreaterThan(files.length);
    expect(found).toEqual([]);
  });
});
