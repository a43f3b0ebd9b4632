import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binding } from '../base/binding.js';
import { Controller } from '../network/controller.js';
import { runningService, serviceFiles } from '../network/names/instance.js';
import { type Measurement, sampled } from './measure.js';

/**
 * An endpoint joining a sandbox on a bridge network and leaving it again,
 * `count` times in-process: IPAM under its file lock, the veth pair, addresses
 * and route inside, the state records. The host is a throwaway netns, the
 * sandbox another; both are removed at the end, as is the temp state dir.
 */
export async function benchJoin(count: number): Promise<Measurement[]> {
  const tag = `bb-${process.pid}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const hostNetns = binding().createNetns('/run/netns', `${tag}-host`);
  let sandboxNetns: string | undefined;
  try {
    const ctl = await Controller.open({ stateDir, hostNetnsPath: hostNetns });
    const net = await ctl.createNetwork({ name: `${tag}-net`, subnet: '10.88.0.0/24', bridgeName: `${tag}-br` });
    const sb = await ctl.createSandbox({ name: `${tag}-sb` });
    sandboxNetns = sb.netnsPath;
    const ep = await net.createEndpoint({ name: 'ep' });
    // One round first, so the samples hold no first-use costs (the binding, the IPAM folder).
    await ep.join(sb);
    await ep.leave();
    const out = [
      await sampled(`endpoint join + leave, bridge network (${count} rounds)`, count, async () => {
        await ep.join(sb);
        await ep.leave();
      }),
    ];
    // The same on a network with names: a join returns once the name service serves its names.
    const named = await ctl.createNetwork({
      name: `${tag}-dns`,
      subnet: '10.88.1.0/24',
      bridgeName: `${tag}-dns`,
      dns: true,
    });
    const nep = await named.createEndpoint({ name: 'ep' });
    await nep.join(sb);
    await nep.leave();
    out.push(
      await sampled(`endpoint join + leave, network with names (${count} rounds)`, count, async () => {
        await nep.join(sb);
        await nep.leave();
      }),
    );
    await nep.delete();
    await named.delete();
    await stopNameService(stateDir);
    await ep.delete();
    await sb.destroy();
    sandboxNetns = undefined;
    await net.delete();
    return out;
  } finally {
    const pid = runningService(serviceFiles(stateDir));
    if (pid !== undefined) process.kill(pid, 'SIGKILL');
    if (sandboxNetns) deleteQuietly(sandboxNetns);
    deleteQuietly(hostNetns);
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** Stops the name service the benchmark's join started, by its PID. */
async function stopNameService(stateDir: string): Promise<void> {
  const pid = runningService(serviceFiles(stateDir));
  if (pid === undefined) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 250 && runningService(serviceFiles(stateDir)) !== undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function deleteQuietly(netnsPath: string): void {
  try {
    binding().deleteNetns(netnsPath);
  } catch {
    // already gone: the benchmark's own teardown removed it
  }
}
