import { describe, expect, it } from 'vitest';
import { BerthError, ErrorCode } from '../../base/errors.js';
import type { CniPlugin, CniRequest, CniResult } from '../types.js';
import type { Environment } from './env.js';
import { runSkel, type SkelIO, type SkelOptions } from './skel.js';

/** A plugin that records its calls and answers with what the test gives it. */
function fakePlugin(opts: { result?: CniResult; fail?: unknown; omit?: ('status' | 'gc')[] } = {}) {
  const calls: CniRequest[] = [];
  const act = async (request: CniRequest) => {
    calls.push(request);
    if (opts.fail !== undefined) throw opts.fail;
  };
  const plugin: CniPlugin = {
    add: async (request, context) => {
      await act(request);
      context.log('added');
      return opts.result ?? {};
    },
    del: act,
    check: act,
    status: act,
    gc: act,
  };
  for (const verb of opts.omit ?? []) delete plugin[verb];
  return { plugin, calls };
}

/** Runs the skel with captured stdio, as a runtime would see it. */
async function run(plugin: CniPlugin, env: Environment, stdin: SkelIO['stdin'], options?: SkelOptions) {
  let stdout = '';
  let stderr = '';
  const code = await runSkel(
    plugin,
    { env, stdin, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
    options,
  );
  return { code, stdout, stderr, json: stdout === '' ? undefined : JSON.parse(stdout) };
}

const env = (command: string, extra: Environment = {}): Environment => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/c1',
  CNI_IFNAME: 'eth0',
  CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web',
  CNI_PATH: '/opt/cni/bin',
  ...extra,
});

const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.1.0', name: 'berth', type: 'berth-bridge', bridge: 'berth0', ...extra });

const result: CniResult = {
  interfaces: [{ name: 'eth0', mac: '0a:58:0a:58:00:05', sandbox: '/run/netns/c1', mtu: 1500 }],
  ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 0 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1', priority: 5 }],
};

const prevResult = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', sandbox: '/run/netns/c1' }],
  ips: [{ address: '10.88.0.5/16', interface: 0 }],
};

describe('runSkel ADD', () => {
  it('hands the plugin a typed request and prints its result in the config version', async () => {
    const { plugin, calls } = fakePlugin({ result });
    const out = await run(plugin, env('ADD'), conf());
    expect(out.code).toBe(0);
    expect(out.json).toEqual({
      cniVersion: '1.1.0',
      interfaces: [{ name: 'eth0', mac: '0a:58:0a:58:00:05', sandbox: '/run/netns/c1', mtu: 1500 }],
      ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1', priority: 5 }],
    });
    expect(out.stderr).toBe('added\n');
    expect(calls).toEqual([
      {
        command: 'ADD',
        containerId: 'c1',
        netns: '/run/netns/c1',
        ifName: 'eth0',
        args: new Map([
          ['IgnoreUnknown', '1'],
          ['K8S_POD_NAME', 'web'],
        ]),
        path: ['/opt/cni/bin'],
        config: {
          cniVersion: '1.1.0',
          name: 'berth',
          type: 'berth-bridge',
          args: {},
          runtimeConfig: {},
          raw: { cniVersion: '1.1.0', name: 'berth', type: 'berth-bridge', bridge: 'berth0' },
        },
      },
    ]);
  });

  it('answers a 0.4.0 config in the 0.4.0 shape and a 1.0.0 config without 1.1.0 fields', async () => {
    const old = await run(fakePlugin({ result }).plugin, env('ADD'), conf({ cniVersion: '0.4.0' }));
    expect(old.json).toEqual({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', mac: '0a:58:0a:58:00:05', sandbox: '/run/netns/c1' }],
      ips: [{ version: '4', address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }],
    });
    const v100 = await run(fakePlugin({ result }).plugin, env('ADD'), conf({ cniVersion: '1.0.0' }));
    expect(v100.json).toEqual({
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '0a:58:0a:58:00:05', sandbox: '/run/netns/c1' }],
      ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }],
    });
  });

  it('passes a prevResult of an older version in the current shape', async () => {
    const { plugin, calls } = fakePlugin();
    const older = { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.88.0.5/16' }] };
    await run(plugin, env('ADD'), conf({ cniVersion: '0.4.0', prevResult: older }));
    expect(calls[0]?.config.prevResult).toEqual({ ips: [{ address: '10.88.0.5/16' }] });
  });

  it('refuses a missing CNI_NETNS before calling the plugin', async () => {
    const { plugin, calls } = fakePlugin();
    const out = await run(plugin, env('ADD', { CNI_NETNS: undefined }), conf());
    expect(out).toMatchObject({ code: 1, stderr: '' });
    expect(out.json).toEqual({
      cniVersion: '1.1.0',
      code: 4,
      msg: 'missing environment variable CNI_NETNS for ADD',
      details: 'ADD needs CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME',
    });
    expect(calls).toEqual([]);
  });
});

describe('runSkel DEL, CHECK, STATUS, GC', () => {
  it('DEL prints nothing on success and has no netns when the runtime has none', async () => {
    const { plugin, calls } = fakePlugin();
    const out = await run(plugin, env('DEL', { CNI_NETNS: '' }), conf());
    expect(out).toEqual({ code: 0, stdout: '', stderr: '', json: undefined });
    expect(calls[0]).toMatchObject({ command: 'DEL', containerId: 'c1', ifName: 'eth0' });
    expect(calls[0]).not.toHaveProperty('netns');
  });

  it('CHECK gets the prevResult and prints nothing on success', async () => {
    const { plugin, calls } = fakePlugin();
    const out = await run(plugin, env('CHECK'), conf({ prevResult }));
    expect(out).toEqual({ code: 0, stdout: '', stderr: '', json: undefined });
    expect(calls[0]).toMatchObject({
      command: 'CHECK',
      netns: '/run/netns/c1',
      config: {
        prevResult: { interfaces: [{ name: 'eth0', sandbox: '/run/netns/c1' }], ips: [prevResult.ips[0]] },
      },
    });
  });

  it('CHECK without prevResult is an invalid config', async () => {
    const { plugin, calls } = fakePlugin();
    const out = await run(plugin, env('CHECK'), conf());
    expect(out.code).toBe(1);
    expect(out.json).toMatchObject({ cniVersion: '1.1.0', code: 7, msg: 'CHECK without prevResult' });
    expect(calls).toEqual([]);
  });

  it('CHECK on a 0.3.1 config is code 1, answered in 0.3.1', async () => {
    const out = await run(fakePlugin().plugin, env('CHECK'), conf({ cniVersion: '0.3.1', prevResult }));
    expect(out.json).toEqual({
      cniVersion: '0.3.1',
      code: 1,
      msg: 'config version "0.3.1" does not allow CHECK',
      details: "CHECK exists from CNI spec 0.4.0 on; raise the config's cniVersion to 0.4.0 or later",
    });
  });

  it('STATUS needs only CNI_COMMAND and a 1.1.0 config', async () => {
    const { plugin, calls } = fakePlugin();
    expect(await run(plugin, { CNI_COMMAND: 'STATUS' }, conf())).toMatchObject({ code: 0, stdout: '' });
    expect(calls).toEqual([expect.objectContaining({ command: 'STATUS', path: [] })]);
    const old = await run(plugin, { CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.0.0' }));
    expect(old.json).toMatchObject({
      cniVersion: '1.0.0',
      code: 1,
      msg: 'config version "1.0.0" does not allow STATUS',
    });
  });

  it('STATUS reports the plugin not ready with code 50', async () => {
    const fail = new BerthError(ErrorCode.PluginNotAvailable, 'bridge berth0 is missing', 'run berth network create');
    const out = await run(fakePlugin({ fail }).plugin, { CNI_COMMAND: 'STATUS' }, conf());
    expect(out.code).toBe(1);
    expect(out.json).toEqual({
      cniVersion: '1.1.0',
      code: 50,
      msg: 'bridge berth0 is missing',
      details: 'run berth network create',
    });
  });

  it('GC gets the valid attachments', async () => {
    const { plugin, calls } = fakePlugin();
    const attachments = [{ containerID: 'c1', ifname: 'eth0' }];
    const out = await run(
      plugin,
      { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' },
      conf({ 'cni.dev/valid-attachments': attachments, 'cni.dev/attachments': attachments }),
    );
    expect(out).toEqual({ code: 0, stdout: '', stderr: '', json: undefined });
    expect(calls[0]).toMatchObject({
      command: 'GC',
      path: ['/opt/cni/bin'],
      validAttachments: [{ containerId: 'c1', ifName: 'eth0' }],
    });
  });

  it('GC without CNI_PATH or without the list is refused before the plugin runs', async () => {
    const { plugin, calls } = fakePlugin();
    const noPath = await run(plugin, { CNI_COMMAND: 'GC' }, conf({ 'cni.dev/valid-attachments': [] }));
    expect(noPath.json).toMatchObject({ code: 4, msg: 'missing environment variable CNI_PATH for GC' });
    const noList = await run(plugin, { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, conf());
    expect(noList.json).toMatchObject({ code: 7, msg: 'GC without cni.dev/valid-attachments' });
    expect(calls).toEqual([]);
  });

  it('a plugin without status or gc succeeds at them', async () => {
    const { plugin } = fakePlugin({ omit: ['status', 'gc'] });
    expect(await run(plugin, { CNI_COMMAND: 'STATUS' }, conf())).toMatchObject({ code: 0, stdout: '' });
    const gc = await run(plugin, { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf({ 'cni.dev/valid-attachments': [] }));
    expect(gc).toMatchObject({ code: 0, stdout: '' });
  });
});

describe('runSkel VERSION', () => {
  const supportedVersions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

  it("answers in the input's cniVersion, without other variables and without calling the plugin", async () => {
    const { plugin, calls } = fakePlugin();
    const out = await run(plugin, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
    expect(out).toMatchObject({ code: 0, stderr: '' });
    expect(out.json).toEqual({ cniVersion: '0.4.0', supportedVersions });
    expect(calls).toEqual([]);
  });

  it('answers in 1.1.0 when the input has no usable version, and never fails over its input', async () => {
    for (const stdin of ['', '{}', 'not json', '{"cniVersion":7}']) {
      const out = await run(fakePlugin().plugin, { CNI_COMMAND: 'VERSION' }, stdin);
      expect(out.code).toBe(0);
      expect(out.json).toEqual({ cniVersion: '1.1.0', supportedVersions });
    }
  });
});

describe('runSkel errors', () => {
  it('a missing CNI_COMMAND is code 4 on stdout, exit 1, stdin never read', async () => {
    let read = false;
    const stdin = () => {
      read = true;
      return conf();
    };
    const out = await run(fakePlugin().plugin, {}, stdin);
    expect(out.code).toBe(1);
    expect(out.json).toMatchObject({ cniVersion: '1.1.0', code: 4, msg: 'CNI_COMMAND is not set' });
    expect(Object.keys(out.json)).toEqual(['cniVersion', 'code', 'msg', 'details']);
    expect(out.stderr).toBe('');
    expect(read).toBe(false);
  });

  it('prints the about text on stderr for someone who ran the plugin by hand', async () => {
    const out = await run(fakePlugin().plugin, {}, '', { about: 'berth-bridge 0.1.0' });
    expect(out.stderr).toBe('berth-bridge 0.1.0\nCNI protocol versions supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n');
    expect(out.json).toMatchObject({ code: 4 });
    const unknown = await run(fakePlugin().plugin, { CNI_COMMAND: 'NOPE' }, '', { about: 'berth-bridge 0.1.0' });
    expect(unknown.stderr).toBe('');
    expect(unknown.json).toMatchObject({ code: 4, msg: 'unknown CNI_COMMAND "NOPE"' });
  });

  it('an untyped throw is code 999 with its message, the stack on stderr only', async () => {
    const out = await run(fakePlugin({ fail: new TypeError('x is undefined') }).plugin, env('DEL'), conf());
    expect(out.code).toBe(1);
    expect(out.json).toEqual({ cniVersion: '1.1.0', code: 999, msg: 'x is undefined' });
    expect(out.stderr).toContain('TypeError: x is undefined');
    expect(out.stderr).toContain('skel.test.ts');
  });

  it('a thrown non-Error is code 999 too', async () => {
    const out = await run(fakePlugin({ fail: 'boom' }).plugin, env('DEL'), conf());
    expect(out.json).toEqual({ cniVersion: '1.1.0', code: 999, msg: 'boom' });
  });

  it('a BerthError keeps its code, message and details, answered in the config version', async () => {
    const fail = new BerthError(ErrorCode.TryAgainLater, 'lock busy', 'try again');
    const out = await run(fakePlugin({ fail }).plugin, env('DEL'), conf({ cniVersion: '0.4.0' }));
    expect(out.json).toEqual({ cniVersion: '0.4.0', code: 11, msg: 'lock busy', details: 'try again' });
    expect(out.stderr).toBe('');
  });

  it('an environment error is answered in the config version too', async () => {
    const out = await run(fakePlugin().plugin, env('ADD', { CNI_IFNAME: 'eth0:1' }), conf({ cniVersion: '1.0.0' }));
    expect(out.json).toMatchObject({ cniVersion: '1.0.0', code: 4, msg: 'CNI_IFNAME "eth0:1" contains ":" at 4' });
  });

  it('undecodable stdin is code 6 with the position, in 1.1.0 for want of a config version', async () => {
    const out = await run(fakePlugin().plugin, env('ADD'), '{"cniVersion": "1.0.0", "name": }');
    expect(out.code).toBe(1);
    expect(out.json).toMatchObject({
      cniVersion: '1.1.0',
      code: 6,
      msg: 'network configuration on stdin is not valid JSON: expected a value at line 1 column 33 (offset 32)',
    });
  });

  it('an unsupported version is code 1 naming it and the supported list, answered in that version', async () => {
    const out = await run(fakePlugin().plugin, env('ADD'), conf({ cniVersion: '0.2.0' }));
    expect(out.json).toEqual({
      cniVersion: '0.2.0',
      code: 1,
      msg: 'incompatible CNI version "0.2.0"',
      details: 'berth supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0',
    });
  });

  it('a failing stdin read is code 5', async () => {
    const out = await run(fakePlugin().plugin, env('ADD'), () => {
      throw Object.assign(new Error('EBADF: bad file descriptor, read'), { code: 'EBADF' });
    });
    expect(out.json).toMatchObject({
      code: 5,
      msg: 'could not read the network configuration from stdin: EBADF: bad file descriptor, read',
    });
  });

  it('takes stdin from an async reader', async () => {
    const { plugin, calls } = fakePlugin();
    const out = await run(plugin, env('DEL'), async () => conf());
    expect(out.code).toBe(0);
    expect(calls).toHaveLength(1);
  });
});
