import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binding } from '../base/binding.js';
import { spawnInNetns } from '../base/exec.js';
import { Controller } from '../network/controller.js';
import { runningService, serviceFiles } from '../network/names/instance.js';
import type { Measurement } from './measure.js';

// Where node_modules is, for the clients' require('dns-packet'): the root of the tree this runs from.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// A client in a sandbox: `rate` A queries a second for `seconds`, paced on a schedule, each for one
// of `names`; prints the latency of each answer (ms) and how many got none.
const CLIENT = `
const dgram = require('node:dgram');
const dns = require('dns-packet');
const [server, list, rate, seconds] = process.argv.slice(1);
const names = list.split(',');
const s = dgram.createSocket('udp4');
const pending = new Map();
const latencies = [];
s.on('message', (m) => {
  const t = pending.get(m.readUInt16BE(0));
  if (t === undefined) return;
  latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
  pending.delete(m.readUInt16BE(0));
});
const interval = 1000 / Number(rate);
const start = Date.now();
const total = Math.round(Number(rate) * Number(seconds));
let sent = 0;
const tick = () => {
  if (sent >= total) {
    setTimeout(() => { process.stdout.write(JSON.stringify({ latencies, lost: pending.size })); process.exit(0); }, 1000);
    return;
  }
  const id = sent & 0xffff;
  pending.set(id, process.hrtime.bigint());
  s.send(dns.encode({ type: 'query', id, flags: dns.RECURSION_DESIRED, questions: [{ type: 'A', name: names[sent % names.length] }] }), 53, server);
  sent++;
  setTimeout(tick, Math.max(0, start + sent * interval - Date.now()));
};
tick();
setTimeout(() => process.exit(1), (Number(seconds) + 30) * 1000);
`;

/**
 * The name service under load: `clients` sandboxes on one network with names, each asking
 * `perClient` queries a second for the others' names for `seconds`, measured from the client's
 * send to its answer. The host, the sandboxes and the temp state dir are removed at the end, and
 * the name service is stopped by its PID.
 */
export async function benchNames(clients = 10, perClient = 100, seconds = 10): Promise<Measurement[]> {
  const tag = `bn-${process.pid}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-bench-names-'));
  const hostNetns = binding().createNetns('/run/netns', `${tag}-host`);
  const children: ChildProcess[] = [];
  try {
    const ctl = await Controller.open({ stateDir, hostNetnsPath: hostNetns, etcNetnsDir: join(stateDir, 'etc') });
    const net = await ctl.createNetwork({
      name: `${tag}-net`,
      subnet: '10.87.0.0/24',
      bridgeName: `${tag}-br`,
      dns: true,
    });
    const sandboxes = [];
    for (let i = 0; i < clients; i++) {
      const sb = await ctl.createSandbox({ name: `${tag}-s${i}` });
      sandboxes.push(sb);
      await (await net.createEndpoint({ name: sb.name })).join(sb);
    }
    const names = sandboxes.map((s) => s.name).join(',');
    const runs = sandboxes.map((sb) => {
      const child = spawnInNetns(
        sb.netnsPath,
        process.execPath,
        ['-e', CLIENT, '10.87.0.1', names, String(perClient), String(seconds)],
        {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      children.push(child);
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c));
      return new Promise<{ latencies: number[]; lost: number }>((resolve, reject) =>
        child.on('close', (code) =>
          code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`a client exited ${code}`)),
        ),
      );
    });
    const results = await Promise.all(runs);
    const samples = results.flatMap((r) => r.latencies);
    const lost = results.reduce((n, r) => n + r.lost, 0);
    for (const sb of sandboxes) await sb.destroy();
    for (const ep of net.endpoints()) await ep.delete();
    await net.delete();
    return [
      {
        what: `name service: ${clients} sandboxes x ${perClient} queries/s, ${lost} unanswered`,
        ops: samples.length,
        seconds,
        samples,
      },
    ];
  } finally {
    for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    const pid = runningService(serviceFiles(stateDir));
    if (pid !== undefined) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < clients; i++) deleteQuietly(`/run/netns/${tag}-s${i}`);
    deleteQuietly(hostNetns);
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function deleteQuietly(netnsPath: string): void {
  try {
    binding().deleteNetns(netnsPath);
  } catch {
    // already gone: the benchmark's own teardown removed it
  }
}
