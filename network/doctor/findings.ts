import { BerthError } from '../../base/errors.js';
import type { Backend, Owner } from '../../iptables/index.js';

/**
 * `berth doctor` and `berth gc`: whether this kernel has what berth needs,
 * tried in a throwaway netns, and whether berth's records still match the
 * kernel. The analysis of the state is a pure function of gathered facts;
 * gathering and fixing are the only parts that touch anything.
 *
 * This room holds what the checks report: findings, their severity and the
 * stale items gc removes.
 */

export type Severity = 'ok' | 'warn' | 'fail';

/** Something doctor found stale, in a form gc can remove. */
export type StaleItem =
  | { readonly kind: 'sandbox'; readonly name: string }
  | { readonly kind: 'endpoint'; readonly network: string; readonly name: string }
  /** An attachment made through berth's CNI plugins whose container is gone. */
  | { readonly kind: 'attachment'; readonly network: string; readonly name: string }
  | { readonly kind: 'reservation'; readonly network: string; readonly ip: string }
  | { readonly kind: 'ipam-folder'; readonly network: string }
  | { readonly kind: 'firewall'; readonly owner: Owner; readonly backend: Backend }
  | { readonly kind: 'ports'; readonly owner: string }
  | { readonly kind: 'names-network'; readonly network: string }
  | { readonly kind: 'names-record'; readonly network: string; readonly owner: string }
  | { readonly kind: 'names-service' }
  /** An IFB of berth's whose host end is gone: it shapes nothing. */
  | { readonly kind: 'ifb'; readonly name: string };

export interface Finding {
  readonly area: 'kernel' | 'state';
  readonly severity: Severity;
  /** What was checked or found, naming the value. */
  readonly message: string;
  /** How to fix it; absent when nothing is wrong. */
  readonly fix?: string;
  /** Set when `berth gc` removes it. */
  readonly stale?: StaleItem;
}

/** healthy: no finding is a failure (warnings are fine). */
export const isHealthy = (findings: readonly Finding[]) => findings.every((f) => f.severity !== 'fail');

export const ok = (area: Finding['area'], message: string): Finding => ({ area, severity: 'ok', message });
export const fail = (area: Finding['area'], message: string, fix: string, staleItem?: StaleItem): Finding => ({
  area,
  severity: 'fail',
  message,
  fix,
  ...(staleItem ? { stale: staleItem } : {}),
});
export const reason = (e: unknown) =>
  e instanceof BerthError ? e.message : e instanceof Error ? e.message : String(e);
