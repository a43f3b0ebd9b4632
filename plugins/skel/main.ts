import { fstatSync, readFileSync, writeSync } from 'node:fs';
import type { CniPlugin } from '../types.js';
import { runSkel, type SkelOptions } from './skel.js';

/**
 * The entry of a plugin executable: `main(plugin)` is the whole of its main file.
 * Sets process.exitCode rather than calling process.exit, so stdout drains first.
 *
 * Stdio goes through fs on fds 0-2, not process.stdin/stdout or node:tty: those
 * load net and the streams, a third of a VERSION call's time (bench/startup.ts).
 */
export function main(plugin: CniPlugin, options: SkelOptions = {}): Promise<void> {
  const stdout = writer(1, () => process.stdout);
  const stderr = writer(2, () => process.stderr);
  return runSkel(plugin, { env: process.env, stdin: readStdin, stdout, stderr }, options).then((code) => {
    process.exitCode = code;
  });
}

/**
 * All of fd 0. A character device means a terminal (someone ran the plugin by
 * hand: reading would wait for ^D) or /dev/null: either way there is no config.
 */
function readStdin(): string | Promise<string> {
  if (fstatSync(0).isCharacterDevice()) return '';
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

/**
 * Writes synchronously to fd; a non-blocking pipe that is full (EAGAIN) hands the
 * rest, and every later write, to the process stream, which waits for the reader.
 */
function writer(fd: number, stream: () => NodeJS.WriteStream): (text: string) => void {
  let queued = false;
  return (text) => {
    const data = Buffer.from(text, 'utf8');
    let done = 0;
    if (!queued) {
      try {
        while (done < data.length) {
          const n = writeSync(fd, data, done);
          if (n <= 0) break;
          done += n;
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      if (done === data.length) return;
      queued = true;
    }
    stream().write(data.subarray(done));
  };
}
