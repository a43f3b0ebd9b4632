import { describe, expect, it } from 'vitest';
import { parseMode, parseRunNetwork } from './modes.js';
import { UsageError } from './usage.js';

describe('parseMode', () => {
  it.each([
    ['none', { mode: 'none' }],
    ['host', { mode: 'host' }],
    ['container:web', { mode: 'container', shareWith: 'web' }],
    ['container:a.b_c-1', { mode: 'container', shareWith: 'a.b_c-1' }],
  ])('reads %s', (text, choice) => {
    expect(parseMode(text)).toEqual(choice);
  });

  it.each([
    ['bridge', 'unknown --mode "bridge"'],
    ['', 'unknown --mode ""'],
    ['container', '--mode container needs the sandbox to share'],
    ['container:', '--mode container: names no sandbox'],
    ['container:-x', '--mode: invalid sandbox name "-x"'],
    ['container:a/b', 'invalid sandbox name "a/b"'],
    ['Host', 'unknown --mode "Host"'],
  ])('refuses %j', (text, message) => {
    expect(() => parseMode(text)).toThrow(message);
    expect(() => parseMode(text)).toThrow(UsageError);
  });
});

describe('parseRunNetwork', () => {
  it.each([
    ['none', { mode: 'none' }],
    ['host', { mode: 'host' }],
    ['container:db', { mode: 'container', shareWith: 'db' }],
    ['web', { mode: 'network', network: 'web' }],
    ['my.net-1', { mode: 'network', network: 'my.net-1' }],
  ])('reads %s', (text, choice) => {
    expect(parseRunNetwork(text)).toEqual(choice);
  });

  it.each([
    ['container', '--network container needs the sandbox to share'],
    ['container:', 'names no sandbox'],
    ['bad name', '--network: invalid network name "bad name"'],
    ['', 'invalid network name ""'],
  ])('refuses %j', (text, message) => {
    expect(() => parseRunNetwork(text)).toThrow(message);
    expect(() => parseRunNetwork(text)).toThrow(UsageError);
  });
});
