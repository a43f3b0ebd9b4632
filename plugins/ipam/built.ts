/**
 * The built berth-ipam for end-to-end tests, copied with its native binding into
 * a private folder: `scripts/build.mjs` deletes and rewrites dist/ as a whole,
 * so a build by another test run must not pull the executable from under ours.
 * Rebuilds first when dist/cni/berth-ipam.js is missing or older than its sources.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST_CNI = join(ROOT, 'dist', 'cni');
const BUNDLE = join(DIST_CNI, 'berth-ipam.js');
/** The thin client, the bundle it runs in-process and the daemon's, which a client starts. */
const FILES = ['berth-ipam', 'berth-ipam.js', 'berth-daemon.js'];
const NATIVE = join(ROOT, 'dist', 'native', 'berth_netlink.node');
/** What the bundle is made of: a newer file here means dist/ is stale. */
const SOURCES = ['plugins/ipam', 'plugins/skel', 'plugins/types.ts', 'network/ipam', 'base'];
const BUILD_TIMEOUT_MS = 120_000;
const ATTEMPTS = 3;

export interface BuiltIpam {
  /** The folder to put first in CNI_PATH (it holds `berth-ipam`). */
  readonly cniDir: string;
  readonly exe: string;
  /** The private folder, to remove when done. */
  readonly root: string;
}

function newestSource(): number {
  let newest = 0;
  const visit = (path: string) => {
    const st = statSync(path);
    if (st.isDirectory()) {
      for (const name of readdirSync(path)) if (name !== 'testdata') visit(join(path, name));
    } else if (path.endsWith('.ts') && !path.endsWith('.test.ts')) {
      newest = Math.max(newest, st.mtimeMs);
    }
  };
  for (const s of SOURCES) visit(join(ROOT, s));
  return newest;
}

function isFresh(): boolean {
  return existsSync(BUNDLE) && existsSync(NATIVE) && statSync(BUNDLE).mtimeMs >= newestSource();
}

/** A private copy of the built plugin; the folder is readable by every user, so a test may run it as another. */
export function builtIpam(): BuiltIpam {
  const root = mkdtempSync(join(tmpdir(), 'berth-ipam-e2e-'));
  chmodSync(root, 0o755);
  const cniDir = join(root, 'cni');
  const exe = join(cniDir, 'berth-ipam');
  mkdirSync(cniDir, { mode: 0o755 });
  mkdirSync(join(root, 'native'), { mode: 0o755 });
  // The bundles are CommonJS; no package.json above /tmp says otherwise, but be explicit.
  writeFileSync(join(root, 'package.json'), '{"type": "commonjs"}\n');
  let lastError: unknown;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    try {
      if (!isFresh()) {
        execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: BUILD_TIMEOUT_MS,
        });
      }
      for (const f of FILES) {
        copyFileSync(join(DIST_CNI, f), join(cniDir, f));
        chmodSync(join(cniDir, f), 0o755);
      }
      copyFileSync(NATIVE, join(root, 'native', 'berth_netlink.node'));
      return { cniDir, exe, root };
    } catch (e) {
      // Another run's build emptied dist/ between our check and our copy: build again.
      lastError = e;
    }
  }
  throw new Error(`could not build and copy dist/cni/berth-ipam: ${String(lastError)}`, { cause: lastError });
}
