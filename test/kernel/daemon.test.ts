/**
 * The thin CNI client and the berth daemon, as a runtime meets them: the frames the client sends
 * (read with the daemon's own decoder, against a fake daemon), a daemon that dies mid-answer, no
 * daemon at all, the switches that keep a call in-process, one daemon per netns and folder, its
 * socket's permissions, idle exit, retirement when its code is replaced, `berth daemon` in the
 * foreground, and SIGKILL at random points of ADD and DEL with nothing left after the runtime's DEL.
 *
 * Every test runs the clients in a netns that plays the host, from a plain copy of dist/cni (so it
 * may remove a bundle to see who answers), and stops the daemons it started.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnInNetns } from '../../base/exec.js';
import { prepareRunDir } from '../../daemon/instance.js';
import { daemonPaths, RUN_DIR } from '../../daemon/paths.js';
import { type Call, encodeAnswer, encodeGreeting, FrameKind, FrameReader } from '../../daemon/protocol.js';
import { hostVethName } from '../../network/pipeline/cni-names.js';
import { DIST_CNI, REFERENCE_CNI, ROOT } from '../helpers/cni.js';
import { type RunningDaemon, runningDaemons, stopDaemons, waitForDaemon } from '../helpers/daemon.js';
import { kernelSuite, notRoot, TestNetns, type TestNs } from '../helpers/netns.js';

const RUN_TIMEOUT_MS = 30_000;
const NET = 'bt-daemon';
const BRIDGE = 'btdmn0';
const SUBNET = '10.78.0.0/24';

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

type Json = Record<string, unknown>;

/** A process in a netns, its stdin given, its output gathered; SIGKILLed after RUN_TIMEOUT_MS. */
function start(netns: string, file: string, args: readonly string[], env: Json, stdin: string | Buffer) {
  const child = spawnInNetns(netns, file, args, { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  child.stdin!.on('error', () => {});
  child.stdin!.end(stdin);
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    }),
  );
  return { child, done };
}

const parsed = (r: Run) => JSON.parse(r.stdout) as Json;

describe.skipIf(notRoot)(kernelSuite('the CNI client and the berth daemon'), () => {
  const netns = new TestNetns();
  let temp: string;
  /** This suite's plain copy of dist/cni: the folder its clients run from. */
  let dir: string;
  const servers: Server[] = [];
  const children: ChildProcess[] = [];

  beforeAll(() => {
    TestNetns.removeStale();
    temp = mkdtempSync(join(tmpdir(), 'berth-daemon-test-'));
    dir = realpathSync(copyPlugins(join(temp, 'cni')));
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    restoreBundles();
    netns.cleanup();
    stopDaemons({ pluginDir: dir });
  });
  afterAll(() => {
    netns.cleanup();
    if (dir) stopDaemons({ pluginDir: dir });
    if (temp) rmSync(temp, { recursive: true, force: true });
  });

  function copyPlugins(to: string): string {
    spawnSync('mkdir', ['-p', to]);
    for (const f of readdirSync(DIST_CNI)) copyFileSync(join(DIST_CNI, f), join(to, f));
    return to;
  }

  /** Puts back what a test removed or replaced in the copy. */
  function restoreBundles(): void {
    for (const f of readdirSync(DIST_CNI)) {
      if (!existsSync(join(dir, f)) || f === 'berth-daemon.js') copyFileSync(join(DIST_CNI, f), join(dir, f));
    }
  }

  const cniEnv = (command: string, more: Json = {}): Json => ({
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: `ctr-${process.pid}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: `${dir}:${REFERENCE_CNI}`,
    ...more,
  });

  /** One call of a plugin client of the copy, run in the host netns. */
  function call(host: TestNs, name: string, env: Json, config: Json | string): Promise<Run> {
    const stdin = typeof config === 'string' ? config : JSON.stringify(config);
    const r = start(host.path, join(dir, name), [], env, stdin);
    children.push(r.child);
    return r.done;
  }

  /** berth-loopback ADD of a fresh container netns: a call that works in-process and in the daemon alike. */
  async function loopbackAdd(host: TestNs, env: Json = {}, extra: Json = {}): Promise<Run> {
    const c = await netns.create('c');
    const config = { cniVersion: '1.0.0', name: 'lo-net', type: 'berth-loopback', ...extra };
    return call(host, 'berth-loopback', cniEnv('ADD', { CNI_NETNS: c.path, ...env }), config);
  }

  const expectLoopbackResult = (r: Run) => {
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(parsed(r)).toMatchObject({ cniVersion: '1.0.0', interfaces: [{ name: 'lo' }] });
  };

  const pathsIn = (host: TestNs) => daemonPaths(statSync(host.path).ino, dir);

  /** A fake daemon on the host's socket for the copy: it greets, reads the call, and does what `answer` says. */
  function fakeDaemon(host: TestNs, answer: (call: Call, socket: Socket) => void): Call[] {
    prepareRunDir(RUN_DIR);
    const calls: Call[] = [];
    const server = createServer((socket) => {
      socket.write(encodeGreeting());
      const reader = new FrameReader();
      socket.on('data', (chunk: Buffer) => {
        for (const frame of reader.push(chunk)) {
          if (frame.kind !== FrameKind.Call) throw new Error(`a ${frame.kind} frame from the client`);
          calls.push(frame.call);
          answer(frame.call, socket);
        }
      });
    });
    server.listen(pathsIn(host).socket);
    servers.push(server);
    return calls;
  }

  describe('against a fake daemon', () => {
    it('sends its name, whole env and stdin (over 1 MB) in one call frame, and relays the answer', async () => {
      const host = await netns.create('host');
      const calls = fakeDaemon(host, (_, socket) =>
        socket.end(encodeAnswer({ code: 3, stdout: Buffer.from('{"out":1}\n'), stderr: Buffer.from('a log\n') })),
      );
      const stdin = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'berth-bridge', pad: 'x'.repeat(2 << 20) });
      const env = cniEnv('ADD', { CNI_NETNS: '/run/netns/none', CUSTOM: 'a=b c' });
      const r = await call(host, 'berth-bridge', env, stdin);
      expect(r).toEqual({ code: 3, signal: null, stdout: '{"out":1}\n', stderr: 'a log\n' });
      expect(calls).toHaveLength(1);
      expect(calls[0]!.plugin).toBe('berth-bridge');
      expect([...calls[0]!.env].sort()).toEqual(
        Object.entries(env)
          .map(([k, v]) => `${k}=${v}`)
          .sort(),
      );
      expect(calls[0]!.stdin.toString()).toBe(stdin);
    });

    it('a daemon that dies mid-answer: code 11 naming it, and the call is safe to repeat', async () => {
      const host = await netns.create('host');
      fakeDaemon(host, (_, socket) => {
        const whole = encodeAnswer({
          code: 0,
          stdout: Buffer.from('{"half":"of an answer"}\n'),
          stderr: Buffer.alloc(0),
        });
        socket.end(whole.subarray(0, whole.length - 5));
      });
      const c = await netns.create('c');
      const config = { cniVersion: '1.0.0', name: 'lo-net', type: 'berth-loopback' };
      const env = cniEnv('ADD', { CNI_NETNS: c.path });
      const lost = await call(host, 'berth-loopback', env, config);
      expect(lost.code).toBe(1);
      expect(parsed(lost)).toMatchObject({
        cniVersion: '1.0.0',
        code: 11,
        msg: expect.stringContaining(`the berth daemon at ${pathsIn(host).socket} ended the connection`),
        details: expect.stringContaining('safe to repeat'),
      });
      // The daemon is gone: the same call again runs in-process, and starts a real daemon for the next.
      await new Promise((resolve) => servers.pop()!.close(resolve));
      expectLoopbackResult(await call(host, 'berth-loopback', env, config));
      await waitForDaemon(host.path, dir);
    });

    it('a connection closed before the greeting is no call made: the client runs it in-process', async () => {
      const host = await netns.create('host');
      prepareRunDir(RUN_DIR);
      const server = createServer((socket) => socket.destroy());
      server.listen(pathsIn(host).socket);
      servers.push(server);
      expectLoopbackResult(await loopbackAdd(host));
    });
  });

  describe('with the real daemon', () => {
    it('no daemon: the first call runs in-process and starts one, which serves the next', async () => {
      const host = await netns.create('host');
      expect(runningDaemons({ netns: host.path })).toEqual([]);
      expectLoopbackResult(await loopbackAdd(host));
      const daemon = await waitForDaemon(host.path, dir);
      // Without its in-process bundle, only the daemon can answer.
      rmSync(join(dir, 'berth-loopback.js'));
      expectLoopbackResult(await loopbackAdd(host));
      expect(runningDaemons({ netns: host.path }).map((d) => d.pid)).toEqual([daemon.pid]);
      const off = await loopbackAdd(host, { BERTH_DAEMON: '0' });
      expect(parsed(off)).toMatchObject({ code: 999, msg: expect.stringContaining(`${dir}/berth-loopback.js`) });
    });

    it('BERTH_DAEMON=0 and "daemon": false keep the call in-process and start no daemon; VERSION starts none', async () => {
      const host = await netns.create('host');
      expectLoopbackResult(await loopbackAdd(host, { BERTH_DAEMON: '0' }));
      expectLoopbackResult(await loopbackAdd(host, {}, { daemon: false }));
      const version = await call(host, 'berth-bridge', cniEnv('VERSION'), '{"cniVersion":"0.4.0"}');
      expect(parsed(version)).toMatchObject({ cniVersion: '0.4.0' });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(runningDaemons({ netns: host.path })).toEqual([]);
      expect(existsSync(pathsIn(host).socket)).toBe(false);
    });

    it('a config over 1 MB goes through the daemon', async () => {
      const host = await netns.create('host');
      expectLoopbackResult(await loopbackAdd(host));
      await waitForDaemon(host.path, dir);
      rmSync(join(dir, 'berth-loopback.js'));
      expectLoopbackResult(await loopbackAdd(host, {}, { pad: 'y'.repeat(3 << 20) }));
    });

    it('its socket is 0600 in a 0700 folder, root-owned; the lock holds its PID', async () => {
      const host = await netns.create('host');
      await loopbackAdd(host);
      const daemon = await waitForDaemon(host.path, dir);
      const socket = statSync(daemon.socket);
      expect([socket.isSocket(), socket.mode & 0o777, socket.uid]).toEqual([true, 0o600, 0]);
      const folder = statSync(RUN_DIR);
      expect([folder.mode & 0o777, folder.uid]).toEqual([0o700, 0]);
      expect(readFileSync(daemon.lock, 'utf8')).toBe(`${daemon.pid}\n`);
    });

    it('two daemons started at once for one netns and folder: one serves, the other leaves', async () => {
      const host = await netns.create('host');
      const env = { PATH: process.env.PATH ?? '', BERTH_DAEMON_IDLE_MS: '60000' };
      const both = [0, 1].map(() => start(host.path, join(dir, 'berth-daemon.js'), [], env, ''));
      children.push(...both.map((b) => b.child));
      const daemon = await waitForDaemon(host.path, dir);
      const loser = await Promise.race(both.map((b) => b.done));
      expect(loser.code).toBe(1);
      expect(loser.stderr).toContain(`another berth daemon (PID ${daemon.pid}) serves ${daemon.socket}`);
      expect(runningDaemons({ netns: host.path }).map((d) => d.pid)).toEqual([daemon.pid]);
      // A client's probe of the lock does not unseat it either: it is still the one that answers.
      rmSync(join(dir, 'berth-loopback.js'));
      expectLoopbackResult(await loopbackAdd(host));
    });

    it('of many clients that find no daemon at once, one starts it (it hands the daemon its lock)', async () => {
      const host = await netns.create('host');
      const runs = await Promise.all(Array.from({ length: 12 }, () => loopbackAdd(host)));
      for (const r of runs) expectLoopbackResult(r);
      // A second daemon would still be alive here, waiting 2 s for the lock before it leaves.
      expect(runningDaemons({ netns: host.path })).toHaveLength(1);
      const daemon = await waitForDaemon(host.path, dir);
      expect(readFileSync(daemon.log, 'utf8')).toMatch(/^berth daemon \d+: serving [^\n]*\n$/);
    });

    it('stops after its idle time without a call, and takes its files with it', async () => {
      const host = await netns.create('host');
      expectLoopbackResult(await loopbackAdd(host, { BERTH_DAEMON_IDLE_MS: '400' }));
      const daemon = await waitForDaemon(host.path, dir);
      await waitUntil(() => runningDaemons({ netns: host.path }).length === 0, 10_000);
      for (const f of [daemon.socket, daemon.lock, daemon.log]) expect(existsSync(f), f).toBe(false);
    });

    it('retires when its code is replaced (an upgrade): the next call starts the new one', async () => {
      const host = await netns.create('host');
      await loopbackAdd(host);
      const old = await waitForDaemon(host.path, dir);
      // As install-plugins writes: a new file renamed over the old.
      copyFileSync(join(DIST_CNI, 'berth-daemon.js'), join(temp, 'berth-daemon.js.new'));
      renameSync(join(temp, 'berth-daemon.js.new'), join(dir, 'berth-daemon.js'));
      expectLoopbackResult(await loopbackAdd(host));
      await waitUntil(() => !runningDaemons({ netns: host.path }).some((d) => d.pid === old.pid), 10_000);
      expectLoopbackResult(await loopbackAdd(host));
      const next = await waitForDaemon(host.path, dir);
      expect(next.pid).not.toBe(old.pid);
    });

    it('`berth daemon` serves a plugin folder in the foreground until SIGTERM', async () => {
      const host = await netns.create('host');
      const berth = join(ROOT, 'dist', 'bin', 'berth');
      const env = { PATH: process.env.PATH ?? '' };
      const refused = start(host.path, berth, ['daemon', '--host-netns', host.path], env, '');
      expect(await refused.done).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/--host-netns does not apply/),
      });
      const fg = start(host.path, berth, ['daemon', '--dir', dir, '--idle-timeout', '0'], env, '');
      children.push(fg.child);
      await waitUntil(() => existsSync(pathsIn(host).socket), 10_000);
      rmSync(join(dir, 'berth-loopback.js'));
      expectLoopbackResult(await loopbackAdd(host));
      fg.child.kill('SIGTERM');
      const r = await fg.done;
      expect([r.code, r.stderr]).toEqual([0, expect.stringMatching(/serving .*\n.*stopping \(SIGTERM\)/)]);
      expect(existsSync(pathsIn(host).socket)).toBe(false);
    });
  });

  describe('SIGKILL of the daemon at random points of ADD and DEL', () => {
    const HOST_PORT = 8080;

    /** The all-in-one plugin's config: a veth, an address, masquerade and one published port to leak. */
    const berthConf = (stateDir: string, dataDir: string): Json => ({
      cniVersion: '1.1.0',
      name: NET,
      type: 'berth',
      bridge: BRIDGE,
      isGateway: true,
      ipMasq: true,
      stateDir,
      ipam: { type: 'berth-ipam', dataDir, ranges: [[{ subnet: SUBNET }]], routes: [{ dst: '0.0.0.0/0' }] },
      runtimeConfig: { portMappings: [{ hostPort: HOST_PORT, containerPort: 80, protocol: 'tcp' }] },
    });

    const jsonFiles = (folder: string) =>
      existsSync(folder) ? readdirSync(folder).filter((f) => f.endsWith('.json')) : [];

    /** What a container can leave in the host: its veth, reservation, records, port map elements. */
    function traces(host: TestNs, stateDir: string, dataDir: string, id: string): string[] {
      const found: string[] = [];
      const links = netns.ipJson<{ ifname: string }[]>(host, ['link', 'show']).map((l) => l.ifname);
      if (links.includes(hostVethName(NET, id, 'eth0'))) found.push('veth');
      const ipamDir = join(dataDir, NET);
      if (existsSync(ipamDir)) {
        for (const f of readdirSync(ipamDir)) {
          if (/^\d/.test(f) && readFileSync(join(ipamDir, f), 'utf8').startsWith(id)) found.push(`reservation ${f}`);
        }
      }
      for (const f of jsonFiles(join(stateDir, 'ports'))) found.push(`port record ${f}`);
      for (const f of jsonFiles(join(stateDir, 'firewall'))) {
        if (readFileSync(join(stateDir, 'firewall', f), 'utf8').includes(id)) found.push(`firewall record ${f}`);
      }
      const nft = spawnSync('ip', ['netns', 'exec', host.name, 'nft', 'list', 'table', 'inet', 'berth'], {
        encoding: 'utf8',
        timeout: 15_000,
      });
      if (nft.status === 0 && nft.stdout.includes(`${HOST_PORT} :`)) found.push('port map element');
      return found;
    }

    it.each(['ADD', 'DEL'])(
      'during %s, then the runtime DEL: nothing leaks',
      async (verb) => {
        const host = await netns.create('host');
        const stateDir = join(temp, `state-${verb}`);
        const dataDir = join(temp, `ipam-${verb}`);
        const config = berthConf(stateDir, dataDir);
        const ROUNDS = 6;
        const outcomes: string[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const c = await netns.create(`c${round}`);
          const id = `kill-${verb.toLowerCase()}-${round}`;
          const env = (command: string) => cniEnv(command, { CNI_CONTAINERID: id, CNI_NETNS: c.path });
          // A warm daemon, and for DEL a container to delete.
          if (verb === 'DEL') expect((await call(host, 'berth', env('ADD'), config)).code).toBe(0);
          else await call(host, 'berth', env('DEL'), config);
          const daemon = await waitForDaemon(host.path, dir);
          const running = call(host, 'berth', env(verb), config);
          await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 120)));
          killDaemon(daemon);
          const r = await running;
          outcomes.push(r.code === 0 ? 'done' : `${(parsed(r) as { code: number }).code}`);
          if (r.code !== 0) expect(parsed(r)).toMatchObject({ code: 11 });
          // The runtime's DEL after a failed ADD, or its retry of a failed DEL; a DEL twice is fine as well.
          const del = await call(host, 'berth', env('DEL'), config);
          expect([del.code, del.stdout], del.stderr).toEqual([0, '']);
          expect(traces(host, stateDir, dataDir, id), `after round ${round}`).toEqual([]);
        }
        // Some rounds were cut mid-call (the others finished before the kill): print them for the record.
        console.log(`${verb} with SIGKILL: ${outcomes.join(', ')}`);
      },
      180_000,
    );

    function killDaemon(d: RunningDaemon): void {
      try {
        process.kill(d.pid, 'SIGKILL');
      } catch {}
    }
  });
});

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not so within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
