import { spawnSync } from 'node:child_process';
import { binding } from '../base/binding.js';
import { NetlinkHandle } from '../netlink/index.js';
import { type Measurement, timed } from './measure.js';

/**
 * Creates and deletes `count` veth pairs from one netns with the peer born in
 * another, with berth's handle and with `ip link` processes, in two throwaway
 * namespaces. Nothing touches the machine's own netns.
 */
export async function benchVeth(count: number): Promise<Measurement[]> {
  const tag = `bb-${process.pid}`;
  const a = binding().createNetns('/run/netns', `${tag}-a`);
  const b = binding().createNetns('/run/netns', `${tag}-b`);
  try {
    const handle = NetlinkHandle.open(a);
    const out: Measurement[] = [];
    try {
      out.push(
        await timed(`veth create, berth NetlinkHandle (${count} pairs)`, count, async () => {
          for (let i = 0; i < count; i++) await handle.createVeth(`bv${i}`, `bp${i}`, { peerNetnsPath: b });
        }),
        await timed(`veth delete, berth NetlinkHandle (${count} pairs)`, count, async () => {
          for (let i = 0; i < count; i++) await handle.deleteLink(`bv${i}`);
        }),
      );
    } finally {
      handle.close();
    }
    out.push(
      await timed(`veth create, \`ip link add\` processes (${count} pairs)`, count, async () => {
        for (let i = 0; i < count; i++)
          run('ip', [
            '-n',
            `${tag}-a`,
            'link',
            'add',
            `iv${i}`,
            'type',
            'veth',
            'peer',
            'name',
            `ip${i}`,
            'netns',
            `${tag}-b`,
          ]);
      }),
      await timed(`veth delete, \`ip link del\` processes (${count} pairs)`, count, async () => {
        for (let i = 0; i < count; i++) run('ip', ['-n', `${tag}-a`, 'link', 'del', `iv${i}`]);
      }),
    );
    return out;
  } finally {
    binding().deleteNetns(a);
    binding().deleteNetns(b);
  }
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}
