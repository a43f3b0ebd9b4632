import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BerthError, ErrorCode } from '../base/errors.js';
import { Controller } from '../network/controller.js';
import { NamesStore } from '../network/names/store.js';
import { StateStore } from '../network/state.js';
import { Library, libraryOrderKey } from './library.js';
import type { LibraryRequest } from './protocol.js';

const temp = mkdtempSync(join(tmpdir(), 'berth-library-test-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

const stateDir = join(temp, 'state');
const request = (method: string, params: Record<string, unknown> = {}, controller = { stateDir }): LibraryRequest => ({
  method,
  params,
  controller,
});

/** What an operation throws in-process, as the reply's error carries it. */
async function thrown(fn: () => unknown): Promise<{ code: number; msg: string; details: string }> {
  try {
    await fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BerthError);
    const { code, msg, details } = e as BerthError;
    return { code, msg, details };
  }
  throw new Error('expected it to throw');
}

describe('Library', () => {
  const library = new Library();
  afterAll(() => library.close());

  it('answers with the same error the Controller throws in-process: an unknown network, a bad name', async () => {
    const ctl = await Controller.open({ stateDir });
    for (const [method, params, inProcess] of [
      ['network', { network: 'nope' }, () => ctl.network('nope')],
      ['deleteNetwork', { network: 'nope' }, () => ctl.network('nope')],
      ['sandbox', { sandbox: 'no/pe' }, () => ctl.sandbox('no/pe')],
      ['join', { network: 'nope', endpoint: 'e', sandbox: 's' }, () => ctl.network('nope')],
    ] as const) {
      const error = await thrown(inProcess);
      expect(error.code).toBeOneOf([ErrorCode.UnknownContainer, ErrorCode.InvalidConfig]);
      expect(await library.run(request(method, params))).toEqual({ ok: false, error });
    }
  });

  it('lists what the records hold as plain views', async () => {
    expect(await library.run(request('networks'))).toEqual({ ok: true, result: [] });
    expect(await library.run(request('sandboxes'))).toEqual({ ok: true, result: [] });
  });

  it("answers a network with this host's names and those imported from other hosts, marked with their node", async () => {
    const at = '2025-01-01T00:00:00.000Z';
    const state = new StateStore(stateDir);
    state.write('networks', 'apps', {
      name: 'apps',
      id: 'aaaaaaaaaaaa',
      driver: 'overlay',
      bridgeName: 'berth-apps',
      subnets: [{ subnet: '10.240.1.0/24', gateway: '10.240.1.1', prefixLength: 24 }],
      mtu: 1450,
      masquerade: true,
      isolate: true,
      hairpin: true,
      promiscuous: false,
      createdAt: at,
      dns: {},
    });
    const names = NamesStore.in(stateDir);
    names.setNetwork({ network: 'apps', listen: ['10.240.1.1'], subnets: ['10.240.0.0/16'] });
    names.put('apps', { owner: 'ep1', names: ['web'], addresses: ['10.240.1.2'], netns: '/run/netns/web' });
    names.putImported('apps', { owner: 'n2/ep7', names: ['db'], addresses: ['10.240.2.2'], node: 'n2' });
    const reply = await library.run(request('network', { network: 'apps' }));
    state.remove('networks', 'apps');
    names.removeNetwork('apps');
    expect(reply).toMatchObject({
      ok: true,
      result: {
        name: 'apps',
        dns: {
          records: [
            { names: ['web'], addresses: ['10.240.1.2'], imported: false, node: null },
            { names: ['db'], addresses: ['10.240.2.2'], imported: true, node: 'n2' },
          ],
        },
      },
    });
  });

  it('refuses an unknown method with code 1, naming it and the methods it has, before it opens anything', async () => {
    const elsewhere = join(temp, 'never');
    const reply = await library.run(request('frobnicate', {}, { stateDir: elsewhere }));
    expect(reply).toMatchObject({
      ok: false,
      error: { code: ErrorCode.IncompatibleVersion, msg: 'the berth daemon has no library method "frobnicate"' },
    });
    expect(!reply.ok && reply.error.details).toMatch(/createNetwork, network, networks, deleteNetwork/);
    expect(existsSync(elsewhere)).toBe(false);
  });

  it('refuses a missing options object and an unknown controller option with code 7, naming them', async () => {
    expect(await library.run(request('createNetwork'))).toEqual({
      ok: false,
      error: {
        code: ErrorCode.InvalidConfig,
        msg: 'the options of a library call is missing',
        details: 'give options as an object',
      },
    });
    const reply = await library.run({ method: 'networks', params: {}, controller: { stateDir, stateDirectory: '/x' } });
    expect(reply).toMatchObject({
      ok: false,
      error: { code: ErrorCode.InvalidConfig, msg: 'unknown controller option(s) stateDirectory' },
    });
  });

  it('refuses a relative path option with code 7 naming it, before it opens anything', async () => {
    for (const key of ['stateDir', 'netnsDir', 'etcNetnsDir', 'hostNetnsPath']) {
      const reply = await library.run({ method: 'networks', params: {}, controller: { stateDir, [key]: 'rel/dir' } });
      expect(reply).toMatchObject({
        ok: false,
        error: { code: ErrorCode.InvalidConfig, msg: `the controller option ${key} "rel/dir" is a relative path` },
      });
    }
    expect(existsSync('rel')).toBe(false);
  });

  it('refuses ports that are no array and names that are no strings with code 7, naming the param', async () => {
    for (const [method, params, key] of [
      ['publish', { network: 'n', endpoint: 'e', ports: { hostPort: 80 } }, 'ports'],
      ['unpublish', { network: 'n', endpoint: 'e', ports: 'all' }, 'ports'],
      ['network', { network: 7 }, 'network'],
      ['deleteNetwork', {}, 'network'],
      ['sandbox', { sandbox: ['a'] }, 'sandbox'],
      ['endpoint', { network: 'n', endpoint: null }, 'endpoint'],
      ['createNetwork', { options: [] }, 'options'],
    ] as const) {
      const reply = await library.run(request(method, params));
      expect(reply, method).toMatchObject({ ok: false, error: { code: ErrorCode.InvalidConfig } });
      expect(!reply.ok && reply.error.msg, method).toMatch(new RegExp(`^the ${key} of a library call is `));
    }
  });

  it('closes and lets go of a Controller unused for its idle time; the next call opens a new one', async () => {
    const brief = new Library(20);
    const open = vi.spyOn(Controller, 'open');
    try {
      expect(await brief.run(request('networks'))).toEqual({ ok: true, result: [] });
      expect(await brief.run(request('networks'))).toEqual({ ok: true, result: [] });
      expect(open).toHaveBeenCalledTimes(1);
      const first = await open.mock.results[0]!.value;
      const close = vi.spyOn(first, 'close');
      await new Promise((resolve) => setTimeout(resolve, 40));
      expect(await brief.run(request('networks'))).toEqual({ ok: true, result: [] });
      expect(open).toHaveBeenCalledTimes(2);
      expect(close).toHaveBeenCalledTimes(1);
    } finally {
      open.mockRestore();
      await brief.close();
    }
  });

  it('answers a failure that is no BerthError with code 999 and its message; a state dir that failed is tried again', async () => {
    const file = join(temp, 'a-file');
    writeFileSync(file, '');
    const reply = await library.run(request('networks', {}, { stateDir: join(file, 'state') }));
    expect(reply).toMatchObject({
      ok: false,
      error: { code: ErrorCode.Internal, msg: expect.stringMatching(/ENOTDIR/) },
    });
    rmSync(file);
    expect(await library.run(request('networks', {}, { stateDir: file }))).toEqual({ ok: true, result: [] });
  });
});

describe('libraryOrderKey', () => {
  it('is the endpoint, network or sandbox a call changes, per state dir; none for what only reads', () => {
    const key = (method: string, params: Record<string, unknown>, dir = '/s') =>
      libraryOrderKey(request(method, params, { stateDir: dir }));
    expect(key('join', { network: 'web', endpoint: 'e1', sandbox: 'a' })).toBe(
      key('createEndpoint', { network: 'web', options: { name: 'e1' } }),
    );
    expect(key('leave', { network: 'web', endpoint: 'e1' })).not.toBe(key('leave', { network: 'web', endpoint: 'e2' }));
    expect(key('leave', { network: 'web', endpoint: 'e1' })).not.toBe(
      key('leave', { network: 'web', endpoint: 'e1' }, '/t'),
    );
    expect(key('createNetwork', { options: { name: 'web' } })).toBe(key('deleteNetwork', { network: 'web' }));
    expect(key('createSandbox', { options: { name: 'a' } })).toBe(key('destroySandbox', { sandbox: 'a' }));
    expect(key('createSandbox', { options: { name: 'web' } })).not.toBe(key('deleteNetwork', { network: 'web' }));
    const defaultDir = key('leave', { network: 'web', endpoint: 'e1' }, '/var/lib/berth');
    expect(libraryOrderKey({ method: 'leave', params: { network: 'web', endpoint: 'e1' }, controller: {} })).toBe(
      defaultDir,
    );
    expect(key('leave', { network: 'web', endpoint: 'e1' }, '/var/lib/berth/')).toBe(defaultDir);
    expect(key('leave', { network: 'web', endpoint: 'e1' }, '/var/lib//berth/.')).toBe(defaultDir);
    expect(key('networks', {})).toBeUndefined();
    expect(key('endpoints', { network: 'web' })).toBeUndefined();
  });
});
