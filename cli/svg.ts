import { spawnSync } from 'node:child_process';
import { BerthError, ErrorCode } from '../base/errors.js';

const DOT_TIMEOUT_MS = 30_000;

/** Draws DOT text into an SVG file with Graphviz's `dot`, which berth does not require: its absence is a clear error. */
export function renderSvg(dot: string, file: string): void {
  const r = spawnSync('dot', ['-Tsvg', '-o', file], { input: dot, encoding: 'utf8', timeout: DOT_TIMEOUT_MS });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new BerthError(
      ErrorCode.IOFailure,
      '--svg needs Graphviz, and dot is not installed',
      'install graphviz (apt-get install graphviz), or pipe berth inspect --graph into another DOT renderer',
    );
  }
  if (r.error || r.status !== 0) {
    throw new BerthError(
      ErrorCode.IOFailure,
      `dot could not write ${file}: ${(r.stderr || r.error?.message || `status ${r.status}`).trim()}`,
      'check that the folder exists and is writable',
    );
  }
}
