import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { CniPlugin } from '../types.js';
import { runSkel, type SkelOptions } from './skel.js';

/**
 * The entry of a plugin executable: `main(plugin)` is the whole of its main file.
 * Sets process.exitCode rather than calling process.exit, so stdout drains first.
 */
export function main(plugin: CniPlugin, options: SkelOptions = {}): Promise<void> {
  return runSkel(
    plugin,
    {
      env: process.env,
      stdin: readStdin,
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    },
    options,
  ).then((code) => {
    process.exitCode = code;
  });
}

/** All of fd 0. A terminal means someone ran the plugin by hand: reading would wait for ^D, so there is no config. */
function readStdin(): string | Promise<string> {
  if (isatty(0)) return '';
  try {
    return readFileSync(0, 'utf8');
  } catch (e) {
    // A non-blocking pipe inherited from the parent makes the synchronous read fail with EAGAIN; read it as a stream.
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    return readStream();
  }
}

async function readStream(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
