import { RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RT_SCOPE_SITE, RT_SCOPE_UNIVERSE } from './constants.js';

/** rtm_scope / ifa_scope by name, as `ip` prints them; a number for a scope without one. */
export type ScopeName = 'universe' | 'site' | 'link' | 'host' | 'nowhere';
export type Scope = ScopeName | number;

const SCOPES: Readonly<Record<ScopeName, number>> = {
  universe: RT_SCOPE_UNIVERSE,
  site: RT_SCOPE_SITE,
  link: RT_SCOPE_LINK,
  host: RT_SCOPE_HOST,
  nowhere: RT_SCOPE_NOWHERE,
};

const BY_NUMBER = new Map<number, ScopeName>(Object.entries(SCOPES).map(([name, n]) => [n, name as ScopeName]));

export function scopeName(n: number): Scope {
  return BY_NUMBER.get(n) ?? n;
}

export function scopeNumber(scope: Scope): number {
  return typeof scope === 'number' ? scope : SCOPES[scope];
}
