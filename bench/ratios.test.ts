import { describe, expect, it } from 'vitest';
import { type Figure, formatTable, formatValue, holds, ratioOf } from './ratios.js';

const add: Figure = {
  name: 'ADD p50, N=1',
  unit: 'ms',
  better: 'lower',
  reference: { value: 200 },
  sides: { aio: { value: 60 }, chain: { value: 150 } },
  targets: { aio: { ratio: 0.4 }, chain: { ratio: 0.7 } },
};

const soak: Figure = {
  name: 'soak',
  unit: 'ops/s',
  better: 'higher',
  reference: { value: 6, failures: 0 },
  sides: { aio: { value: 18, failures: 1 }, chain: { value: 9, failures: 0 } },
  targets: { aio: { ratio: 2.5, noFailures: true }, chain: { ratio: 1.5 } },
};

describe('ratios to the reference', () => {
  it('a lower-is-better figure holds at or under its goal', () => {
    expect(ratioOf(add, 'aio')).toBeCloseTo(0.3);
    expect(holds(add, 'aio')).toBe(true);
    expect(ratioOf(add, 'chain')).toBeCloseTo(0.75);
    expect(holds(add, 'chain')).toBe(false);
    expect(holds({ ...add, sides: { aio: { value: 80 } } }, 'aio')).toBe(true);
  });

  it('a higher-is-better figure holds at or over its goal, and a failure misses a goal that asks for none', () => {
    expect(ratioOf(soak, 'aio')).toBe(3);
    expect(holds(soak, 'aio')).toBe(false);
    expect(holds({ ...soak, sides: { ...soak.sides, aio: { value: 18, failures: 0 } } }, 'aio')).toBe(true);
    expect(holds(soak, 'chain')).toBe(true);
  });

  it('no goal or no value: nothing to judge', () => {
    const noGoal = { ...add, targets: {} };
    expect(holds(noGoal, 'aio')).toBeUndefined();
    expect(holds({ ...add, sides: {} }, 'aio')).toBeUndefined();
    expect(ratioOf({ ...add, reference: { value: 0 } }, 'aio')).toBeUndefined();
  });

  it('values keep three significant digits or so', () => {
    expect(formatValue(183.4, 'ms')).toBe('183 ms');
    expect(formatValue(12.34, 's')).toBe('12.3 s');
    expect(formatValue(0.714, 'ms')).toBe('0.71 ms');
  });

  it('the table shows each ratio beside its goal, then which goals hold per side', () => {
    expect(formatTable([add, soak], { aio: 'all-in-one', chain: 'chain' })).toEqual([
      '| figure | reference | all-in-one | chain |',
      '| --- | --- | --- | --- |',
      '| ADD p50, N=1 | 200 ms | 60.0 ms = **0.30x** (goal ≤ 0.4x: holds) | 150 ms = **0.75x** (goal ≤ 0.7x: MISSED) |',
      '| soak | 6.00 ops/s, 0 failed | 18.0 ops/s, 1 failed = **3.00x** (goal ≥ 2.5x, none failed: MISSED) | 9.00 ops/s, 0 failed = **1.50x** (goal ≥ 1.5x: holds) |',
      '',
      'all-in-one: 1 of 2 goals hold; missed: soak',
      'chain: 1 of 2 goals hold; missed: ADD p50, N=1',
    ]);
  });
});
