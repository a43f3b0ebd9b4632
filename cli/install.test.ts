import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXAMPLE_CONFLIST, exampleConflistText } from './conflist.js';
import { installPlugins, withInterpreter } from './install.js';

const ROOT = join(import.meta.dirname, '..');

describe('withInterpreter', () => {
  it('replaces the #! line and keeps the rest byte for byte', () => {
    const out = withInterpreter(Buffer.from('#!/build/node\nconst a = "é";\n'), '/usr/bin/node');
    expect(out.toString('utf8')).toBe('#!/usr/bin/node\nconst a = "é";\n');
  });

  it('adds one to a script without', () => {
    expect(withInterpreter(Buffer.from('x()\n'), '/n').toString()).toBe('#!/n\nx()\n');
  });
});

describe('the example conflist', () => {
  it('is the text of conf/berth-bridge.conflist', () => {
    expect(exampleConflistText()).toBe(readFileSync(join(ROOT, 'conf', 'berth-bridge.conflist'), 'utf8'));
  });

  it("chains berth's bridge with its IPAM, then loopback", () => {
    expect(EXAMPLE_CONFLIST.plugins.map((p) => p.type)).toEqual(['berth-bridge', 'berth-loopback']);
    expect(EXAMPLE_CONFLIST.plugins[0].ipam.type).toBe('berth-ipam');
  });
});

describe('installPlugins', () => {
  let dir: string;
  let from: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-install-test-'));
    from = join(dir, 'dist');
    mkdirSync(join(from, 'cni'), { recursive: true });
    mkdirSync(join(from, 'native'), { recursive: true });
    writeFileSync(join(from, 'cni', 'berth-bridge'), '#!/somewhere/node\nbridge()\n');
    writeFileSync(join(from, 'cni', 'berth-ipam'), '#!/somewhere/node\nipam()\n');
    writeFileSync(join(from, 'native', 'berth_netlink.node'), 'ELF');
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('copies the plugins with a working #! line and the binding beside them', () => {
    const out = join(dir, 'bin');
    const r = installPlugins({ from, dir: out, interpreter: process.execPath });
    expect(r).toEqual({
      plugins: ['berth-bridge', 'berth-ipam'],
      binding: join(out, 'berth_netlink.node'),
      interpreter: process.execPath,
    });
    expect(readdirSync(out).sort()).toEqual(['berth-bridge', 'berth-ipam', 'berth_netlink.node']);
    expect(readFileSync(join(out, 'berth-bridge'), 'utf8')).toBe(`#!${process.execPath}\nbridge()\n`);
    expect(statSync(join(out, 'berth-ipam')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(out, 'berth_netlink.node'), 'utf8')).toBe('ELF');
  });

  it('copies a native executable (the thin client) as it is, and gives the bundles beside it the interpreter', () => {
    const elf = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0x23, 0x21]);
    writeFileSync(join(from, 'cni', 'berth-loopback'), elf);
    writeFileSync(join(from, 'cni', 'berth-loopback.js'), '#!/somewhere/node\nloopback()\n');
    const out = join(dir, 'bin');
    installPlugins({ from, dir: out, interpreter: process.execPath });
    expect(readFileSync(join(out, 'berth-loopback'))).toEqual(elf);
    expect(statSync(join(out, 'berth-loopback')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(out, 'berth-loopback.js'), 'utf8')).toBe(`#!${process.execPath}\nloopback()\n`);
  });

  it('takes the binding beside the plugins in cni/ (not as a plugin), or the one it is given', () => {
    rmSync(join(from, 'native'), { recursive: true });
    writeFileSync(join(from, 'cni', 'berth_netlink.node'), 'ELF beside');
    const out = join(dir, 'bin');
    expect(installPlugins({ from, dir: out }).plugins).toEqual(['berth-bridge', 'berth-ipam']);
    expect(readFileSync(join(out, 'berth_netlink.node'), 'utf8')).toBe('ELF beside');
    const own = join(dir, 'built-here.node');
    writeFileSync(own, 'ELF built here');
    installPlugins({ from, dir: out, binding: own });
    expect(readFileSync(join(out, 'berth_netlink.node'), 'utf8')).toBe('ELF built here');
    expect(() => installPlugins({ from, dir: out, binding: join(dir, 'none.node') })).toThrow(/no built plugins/);
  });

  it('keeps the options of a #! line that starts the interpreter through env, and swaps the interpreter', () => {
    const script = Buffer.from('#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS /old/node\nbody()\n');
    expect(withInterpreter(script, '/new/node').toString()).toBe(
      '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS /new/node\nbody()\n',
    );
    expect(withInterpreter(Buffer.from('#!/old/node\nbody()\n'), '/new/node').toString()).toBe('#!/new/node\nbody()\n');
    expect(withInterpreter(Buffer.from('body()\n'), '/new/node').toString()).toBe('#!/new/node\nbody()\n');
  });

  it('writes the conflist once, and again only with force', () => {
    const conf = join(dir, 'net.d');
    const path = join(conf, 'berth-bridge.conflist');
    expect(installPlugins({ from, dir: join(dir, 'bin'), conf }).conflist).toEqual({ path, written: true });
    expect(readFileSync(path, 'utf8')).toBe(exampleConflistText());
    writeFileSync(path, 'mine');
    expect(installPlugins({ from, dir: join(dir, 'bin'), conf }).conflist).toEqual({ path, written: false });
    expect(readFileSync(path, 'utf8')).toBe('mine');
    expect(installPlugins({ from, dir: join(dir, 'bin'), conf, force: true }).conflist).toEqual({
      path,
      written: true,
    });
    expect(readFileSync(path, 'utf8')).toBe(exampleConflistText());
  });

  it('refuses a build without plugins or binding, and an interpreter that cannot be a #! line', () => {
    rmSync(join(from, 'native'), { recursive: true });
    expect(() => installPlugins({ from, dir: join(dir, 'bin') })).toThrow(/no built plugins in .*dist/);
    mkdirSync(join(from, 'native'));
    writeFileSync(join(from, 'native', 'berth_netlink.node'), 'ELF');
    expect(() => installPlugins({ from, dir: join(dir, 'bin'), interpreter: '/usr/my node' })).toThrow(
      'cannot be a #! line',
    );
    expect(() => installPlugins({ from, dir: join(dir, 'bin'), interpreter: join(dir, 'nope') })).toThrow(
      'is not an executable file',
    );
    expect(readdirSync(dir)).toEqual(['dist']);
  });
});
