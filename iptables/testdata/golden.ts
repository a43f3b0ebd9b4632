import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const DIR = dirname(fileURLToPath(import.meta.url));

/** Compares text with testdata/<name>.golden; UPDATE_GOLDEN=1 rewrites the file instead. */
export function expectGolden(name: string, text: string): void {
  const path = join(DIR, `${name}.golden`);
  if (process.env.UPDATE_GOLDEN === '1') {
    writeFileSync(path, text);
    return;
  }
  if (!existsSync(path)) {
    throw new Error(
      `golden file ${path} does not exist; run the test with UPDATE_GOLDEN=1 to create it, then review it`,
    );
  }
  expect(text, `rendered text differs from ${path} (UPDATE_GOLDEN=1 rewrites it)`).toBe(readFileSync(path, 'utf8'));
}
