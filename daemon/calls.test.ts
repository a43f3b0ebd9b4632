import { describe, expect, it } from 'vitest';
import { environmentOf, KeyedQueue, orderKey, runCall } from './calls.js';
import { fnv1a32 } from './paths.js';

const call = (env: string[], stdin = '') => ({ plugin: 'berth-loopback', env, stdin: Buffer.from(stdin) });

describe('environmentOf', () => {
  it('reads KEY=VALUE strings; a value may hold "=", a later key wins, a string without "=" is none', () => {
    expect(environmentOf(['A=1', 'B=x=y', 'C=', 'NOEQ', '=v', 'A=2'])).toEqual({ A: '2', B: 'x=y', C: '' });
  });
});

describe('orderKey', () => {
  it('is the container and the network; none without a container', () => {
    expect(orderKey(call(['CNI_CONTAINERID=c1'], '{"name":"web"}'))).toBe('c1\0web');
    expect(orderKey(call(['CNI_CONTAINERID=c1'], '{"name":"db"}'))).not.toBe(
      orderKey(call(['CNI_CONTAINERID=c1'], '{"name":"web"}')),
    );
    expect(orderKey(call(['CNI_CONTAINERID=c1'], 'not json'))).toBe('c1\0');
    expect(orderKey(call(['CNI_COMMAND=GC'], '{"name":"web"}'))).toBeUndefined();
  });
});

describe('KeyedQueue', () => {
  const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('runs the tasks of one key in order, one at a time, even when one fails', async () => {
    const queue = new KeyedQueue();
    const events: string[] = [];
    const task =
      (name: string, ms: number, fail = false) =>
      async () => {
        events.push(`start ${name}`);
        await later(ms);
        events.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      };
    const add = queue.run('c1', task('ADD', 30, true));
    const del = queue.run('c1', task('DEL', 1));
    await expect(add).rejects.toThrow('ADD');
    await expect(del).resolves.toBe('DEL');
    expect(events).toEqual(['start ADD', 'end ADD', 'start DEL', 'end DEL']);
    await later(0);
    expect(queue.size).toBe(0);
  });

  it('runs other keys, and calls without a key, alongside', async () => {
    const queue = new KeyedQueue();
    const events: string[] = [];
    const task = (name: string, ms: number) => async () => {
      events.push(`start ${name}`);
      await later(ms);
      events.push(`end ${name}`);
    };
    await Promise.all([
      queue.run('c1', task('c1', 20)),
      queue.run('c2', task('c2', 5)),
      queue.run(undefined, task('gc', 1)),
    ]);
    expect(events.slice(0, 3).sort()).toEqual(['start c1', 'start c2', 'start gc']);
  });
});

describe('runCall', () => {
  it('answers as the executable would: VERSION, and a missing CNI_COMMAND with the about line', async () => {
    const version = await runCall(call(['CNI_COMMAND=VERSION'], '{"cniVersion":"0.4.0"}'));
    expect(version.code).toBe(0);
    expect(JSON.parse(version.stdout.toString())).toMatchObject({ cniVersion: '0.4.0' });
    const bare = await runCall(call([], ''));
    expect(bare.code).toBe(1);
    expect(JSON.parse(bare.stdout.toString())).toMatchObject({ code: 4, msg: 'CNI_COMMAND is not set' });
    expect(bare.stderr.toString()).toMatch(/^berth-loopback: brings up lo/);
  });

  it('refuses a plugin it does not have with code 7 naming it', async () => {
    const r = await runCall({ plugin: 'bridge', env: ['CNI_COMMAND=ADD'], stdin: Buffer.from('{}') });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ code: 7, msg: 'the berth daemon has no plugin "bridge"' });
  });
});

describe('fnv1a32', () => {
  it('matches the published FNV-1a vectors (the C client computes the same)', () => {
    expect(fnv1a32(Buffer.from(''))).toBe('811c9dc5');
    expect(fnv1a32(Buffer.from('a'))).toBe('e40c292c');
    expect(fnv1a32(Buffer.from('foobar'))).toBe('bf9cf968');
  });
});
