/** The two ways berth runs a network, each set against the reference chain. */
export type Side = 'aio' | 'chain';

export const SIDES: readonly Side[] = ['aio', 'chain'];

/** One measured value, and how many of its operations failed (where it counts them). */
export interface Cell {
  readonly value: number;
  readonly failures?: number;
}

/** A goal for berth's value over the reference's: at most `ratio` (lower is better) or at least (higher is better). */
export interface Target {
  readonly ratio: number;
  /** The goal also asks that none of berth's operations failed. */
  readonly noFailures?: boolean;
}

/** One row of the table: the reference's value and berth's, with the goals. */
export interface Figure {
  readonly name: string;
  readonly unit: 'ms' | 's' | 'ops/s';
  readonly better: 'lower' | 'higher';
  readonly reference: Cell;
  readonly sides: Readonly<Partial<Record<Side, Cell>>>;
  readonly targets: Readonly<Partial<Record<Side, Target>>>;
}

/** berth's value over the reference's (for ops/s too: 2x is twice the reference's rate). */
export function ratioOf(f: Figure, side: Side): number | undefined {
  const cell = f.sides[side];
  if (!cell || !(f.reference.value > 0)) return undefined;
  return cell.value / f.reference.value;
}

/** Whether the goal holds; undefined when the figure has no goal for that side, or no value. */
export function holds(f: Figure, side: Side): boolean | undefined {
  const target = f.targets[side];
  const ratio = ratioOf(f, side);
  if (!target || ratio === undefined) return undefined;
  const within = f.better === 'lower' ? ratio <= target.ratio : ratio >= target.ratio;
  return within && (!target.noFailures || (f.sides[side]?.failures ?? 0) === 0);
}

export function formatValue(value: number, unit: Figure['unit']): string {
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

const failures = (c: Cell) => (c.failures === undefined ? '' : `, ${c.failures} failed`);

function sideCell(f: Figure, side: Side): string {
  const cell = f.sides[side];
  const ratio = ratioOf(f, side);
  if (!cell || ratio === undefined) return '—';
  const target = f.targets[side];
  const goal = target
    ? ` (goal ${f.better === 'lower' ? '≤' : '≥'} ${target.ratio}x${target.noFailures ? ', none failed' : ''}: ${holds(f, side) ? 'holds' : 'MISSED'})`
    : '';
  return `${formatValue(cell.value, f.unit)}${failures(cell)} = **${ratio.toFixed(2)}x**${goal}`;
}

/** The figures as a markdown table, then one line per side saying which goals hold and which do not. */
export function formatTable(figures: readonly Figure[], labels: Readonly<Record<Side, string>>): string[] {
  const lines = [
    `| figure | reference | ${labels.aio} | ${labels.chain} |`,
    '| --- | --- | --- | --- |',
    ...figures.map(
      (f) =>
        `| ${f.name} | ${formatValue(f.reference.value, f.unit)}${failures(f.reference)} | ${sideCell(f, 'aio')} | ${sideCell(f, 'chain')} |`,
    ),
    '',
  ];
  for (const side of SIDES) {
    const judged = figures.filter((f) => holds(f, side) !== undefined);
    const missed = judged.filter((f) => holds(f, side) === false).map((f) => f.name);
    lines.push(
      `${labels[side]}: ${judged.length - missed.length} of ${judged.length} goals hold` +
        (missed.length > 0 ? `; missed: ${missed.join('; ')}` : ''),
    );
  }
  return lines;
}
