import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StateStore } from './state.js';

describe('StateStore', () => {
  const dirs: string[] = [];
  const store = () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-state-'));
    dirs.push(dir);
    return new StateStore(join(dir, 'state'));
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('writes records as 0600 files in 0700 folders and reads them back', () => {
    const s = store();
    s.write('networks', 'web', { name: 'web', subnet: '10.89.0.0/24' });
    expect(s.read('networks', 'web')).toEqual({ name: 'web', subnet: '10.89.0.0/24' });
    expect(statSync(join(s.dir, 'networks', 'web.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(s.dir, 'networks')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(s.dir, 'networks'))).toEqual(['web.json']);
  });

  it('lists records sorted by name, and an absent kind as empty', () => {
    const s = store();
    s.write('sandboxes', 'b', { n: 2 });
    s.write('sandboxes', 'a', { n: 1 });
    expect(s.list('sandboxes')).toEqual([{ n: 1 }, { n: 2 }]);
    expect(s.list('endpoints')).toEqual([]);
  });

  it('treats removing a missing record as success and reading one as null', () => {
    const s = store();
    s.remove('networks', 'nope');
    expect(s.read('networks', 'nope')).toBeNull();
  });

  it('refuses a name that could escape its folder, naming it', () => {
    const s = store();
    expect(() => s.write('networks', '../etc', {})).toThrow('invalid record name "../etc"');
  });

  it('serialises read-modify-write sections', async () => {
    const s = store();
    s.write('networks', 'counter', { n: 0 });
    await Promise.all(
      Array.from({ length: 10 }, () =>
        s.locked(async () => {
          const { n } = s.read<{ n: number }>('networks', 'counter')!;
          await new Promise((r) => setTimeout(r, 2));
          s.write('networks', 'counter', { n: n + 1 });
        }),
      ),
    );
    expect(s.read('networks', 'counter')).toEqual({ n: 10 });
  });
});

describe('StateStore with a damaged record', () => {
  it('names the file when reading it, and lists the others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-state-'));
    try {
      const s = new StateStore(dir);
      s.write('networks', 'good', { name: 'good' });
      s.write('networks', 'bad', {});
      writeFileSync(join(dir, 'networks', 'bad.json'), '{"name": ');
      expect(() => s.read('networks', 'bad')).toThrow(
        expect.objectContaining({
          code: 6,
          msg: expect.stringContaining(`${join(dir, 'networks', 'bad.json')} is not valid JSON`),
        }),
      );
      expect(s.list('networks')).toEqual([{ name: 'good' }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
