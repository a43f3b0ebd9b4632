/** One benchmark figure: what was measured, how many operations, and how long it took. */
export interface Measurement {
  readonly what: string;
  readonly ops: number;
  readonly seconds: number;
  /** Per-operation latencies in ms, when measured one by one. */
  readonly samples?: readonly number[];
}

export async function timed(what: string, ops: number, fn: () => Promise<void>): Promise<Measurement> {
  const start = process.hrtime.bigint();
  await fn();
  return { what, ops, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** Times each call of fn separately, for percentiles. */
export async function sampled(what: string, ops: number, fn: (i: number) => Promise<void>): Promise<Measurement> {
  const samples: number[] = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { what, ops, seconds: Number(process.hrtime.bigint() - start) / 1e9, samples };
}

export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export function formatRow(m: Measurement): string {
  const rate = `${(m.ops / m.seconds).toFixed(0)}/s`;
  const pct = m.samples
    ? `  p50 ${percentile(m.samples, 50).toFixed(2)} ms  p95 ${percentile(m.samples, 95).toFixed(2)} ms  p99 ${percentile(m.samples, 99).toFixed(2)} ms`
    : '';
  return `${m.what.padEnd(64)} ${m.seconds.toFixed(3).padStart(8)} s  ${rate.padStart(8)}${pct}`;
}
