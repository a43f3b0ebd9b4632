import { BANDWIDTH_CNI_BENCH, BRIDGE_CNI_BENCH, benchCni, PORTS_CNI_BENCH } from './cni.js';
import { benchCniTable } from './cni-table.js';
import { benchJoin } from './join.js';
import { formatRow, type Measurement } from './measure.js';
import { benchNames } from './names.js';
import { benchOverlay, benchOverlayAdd } from './overlay.js';
import { benchStartup } from './startup.js';
import { benchThroughput } from './throughput.js';
import { benchVeth } from './veth.js';

// `npm run bench [-- name...]`: every benchmark, or the named ones. Root only:
// each creates throwaway namespaces and removes them.
// A bench gives rows of measurements, or lines printed as they are (a table of its own).
const benches: Record<string, () => Promise<readonly (Measurement | string)[]>> = {
  veth: () => benchVeth(500),
  join: () => benchJoin(100),
  startup: async () => benchStartup(50),
  cni: () => benchCniTable(),
  bridge: () => benchCni(BRIDGE_CNI_BENCH),
  ports: () => benchCni(PORTS_CNI_BENCH),
  bandwidth: () => benchCni(BANDWIDTH_CNI_BENCH),
  throughput: () => benchThroughput(3),
  names: () => benchNames(10, 100, 10),
  overlay: () => benchOverlay(3, 50),
  'overlay-add': () => benchOverlayAdd(30),
};

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('berth bench: run as root (it creates throwaway network namespaces)');
    process.exit(1);
  }
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !(w in benches));
  if (unknown.length > 0) {
    console.error(`berth bench: unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  console.log(`berth bench, node ${process.version}, ${new Date().toISOString()}`);
  for (const name of wanted.length > 0 ? wanted : Object.keys(benches)) {
    for (const m of await benches[name]!()) console.log(typeof m === 'string' ? m : formatRow(m));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
