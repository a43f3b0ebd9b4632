import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BINDING_FILE, findBinding } from './binding.js';

const ROOT = join(import.meta.dirname, '..');
const PREBUILD = join('netlink', 'prebuilds', `${process.platform}-${process.arch}`, 'node.napi.glibc.node');

/** Where the binding is found from a bundle in an installed package's dist/bin, laid out with empty files. */
describe('findBinding', () => {
  let pkg: string;
  let bundleDir: string;
  const make = (...path: string[]) => {
    const file = join(pkg, ...path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, '');
    return file;
  };

  beforeEach(() => {
    pkg = mkdtempSync(join(tmpdir(), 'berth-binding-test-'));
    bundleDir = join(pkg, 'dist', 'bin');
    mkdirSync(bundleDir, { recursive: true });
    // The package's dependencies, node-gyp-build among them.
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  });
  afterEach(() => rmSync(pkg, { recursive: true, force: true }));

  it.runIf(process.platform === 'linux' && process.arch === 'x64')(
    "takes the package's prebuild, a build from source over it, and a binding beside the bundle over both",
    () => {
      const prebuild = make(PREBUILD);
      expect(findBinding(bundleDir)).toBe(prebuild);
      const fromSource = make('netlink', 'build', 'Release', BINDING_FILE);
      expect(findBinding(bundleDir)).toBe(fromSource);
      const native = make('dist', 'native', BINDING_FILE);
      expect(findBinding(bundleDir)).toBe(native);
      const beside = make('dist', 'bin', BINDING_FILE);
      expect(findBinding(bundleDir)).toBe(beside);
    },
  );

  it('passes over a prebuild for another platform or libc, and finds nothing then', () => {
    make('netlink', 'prebuilds', 'sunos-sparc', 'node.napi.node');
    // This machine is glibc's (Debian's).
    make('netlink', 'prebuilds', `${process.platform}-${process.arch}`, 'node.napi.musl.node');
    expect(findBinding(bundleDir)).toBeUndefined();
  });

  it('finds the binding beside a plugin copied where no package is', () => {
    rmSync(join(pkg, 'node_modules'));
    const beside = make('opt', 'cni', 'bin', BINDING_FILE);
    expect(findBinding(dirname(beside))).toBe(beside);
    expect(findBinding(join(pkg, 'elsewhere'))).toBeUndefined();
  });
});
