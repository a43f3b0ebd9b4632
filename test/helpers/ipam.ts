/**
 * What berth-ipam (and the reference host-local, whose layout it keeps) holds on disk, for
 * tests that check what an ADD reserved and a DEL gave back.
 *
 *   expect(ipamReservations(h.dataDir, 'bt-net')).toEqual({ '10.77.0.2': 'ctr1' });
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The addresses reserved under dataDir for a network: address → container ID. */
export function ipamReservations(dataDir: string, network: string): Record<string, string> {
  const dir = join(dataDir, network);
  if (!existsSync(dir)) return {};
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir)) {
    if (f === 'lock' || f.startsWith('last_reserved_ip') || f.startsWith('.')) continue;
    out[f] = readFileSync(join(dir, f), 'utf8').split(/\r?\n/)[0]!;
  }
  return out;
}
