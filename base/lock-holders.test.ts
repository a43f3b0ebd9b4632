import { describe, expect, it } from 'vitest';
import {
  deviceNumbers,
  flockHolderPids,
  HOLDER_TOKEN_BYTES,
  HolderWatch,
  holderCheckEveryMs,
  holderToken,
  type LockHolder,
  parseHolderToken,
  processState,
  stuckHolderText,
} from './lock-holders.js';

const PROC_LOCKS = [
  '1: FLOCK  ADVISORY  READ 29073 fe:00:15343617 0 EOF',
  '2: FLOCK  ADVISORY  WRITE 29074 fe:00:2146368 0 EOF',
  '2: -> FLOCK  ADVISORY  WRITE 29075 fe:00:2146368 0 EOF',
  '3: POSIX  ADVISORY  WRITE 29076 fe:00:2146368 0 EOF',
  '4: FLOCK  ADVISORY  WRITE 29077 fe:01:2146368 0 EOF',
  '5: OFDLCK ADVISORY  READ  -1 00:06:1057 0 EOF',
  '',
].join('\n');

const running = (pid: number, token?: string): LockHolder => ({
  pid,
  state: 'S',
  name: 'berth-portmap',
  ...(token ? { token } : {}),
});
const stopped = (pid: number, token?: string): LockHolder => ({ ...running(pid, token), state: 'T' });

describe('reading who holds a lock', () => {
  it('decodes a st_dev as glibc encodes it', () => {
    // glibc's makedev: the major's low 12 bits at 8, the minor's low byte at 0 and its rest at 20, the rest above 32.
    const makedev = (major: number, minor: number) =>
      ((major & 0xfffff000) >>> 0) * 2 ** 32 +
      (major & 0xfff) * 2 ** 8 +
      ((minor & 0xffffff00) >>> 0) * 2 ** 12 +
      (minor & 0xff);
    expect(deviceNumbers(0xfe00)).toEqual({ major: 0xfe, minor: 0 });
    expect(deviceNumbers(0x0803)).toEqual({ major: 8, minor: 3 });
    for (const [major, minor] of [
      [0, 6],
      [259, 1],
      [0x1259, 0x12345],
      [0xabcde, 0x12345678],
    ] as const) {
      expect(deviceNumbers(makedev(major, minor))).toEqual({ major, minor });
    }
  });

  it('takes the holders of an flock on the file from /proc/locks: not waiters, POSIX locks or other devices', () => {
    expect(flockHolderPids(PROC_LOCKS, { major: 0xfe, minor: 0 }, 2146368)).toEqual([29074]);
    expect(flockHolderPids(PROC_LOCKS, { major: 0xfe, minor: 1 }, 2146368)).toEqual([29077]);
    expect(flockHolderPids(PROC_LOCKS, { major: 0xfe, minor: 0 }, 15343617)).toEqual([29073]);
    expect(flockHolderPids(PROC_LOCKS, { major: 0xfe, minor: 0 }, 1)).toEqual([]);
    expect(flockHolderPids('', { major: 0xfe, minor: 0 }, 2146368)).toEqual([]);
  });

  it('lists every shared holder once', () => {
    const shared = ['1: FLOCK  ADVISORY  READ 10 08:03:77 0 EOF', '2: FLOCK  ADVISORY  READ 11 08:03:77 0 EOF'];
    expect(flockHolderPids([...shared, shared[0]].join('\n'), { major: 8, minor: 3 }, 77)).toEqual([10, 11]);
  });

  it("reads a process's state after its command, whatever the command holds", () => {
    expect(processState('1234 (node) S 1 1234 1234 0 -1')).toBe('S');
    expect(processState('1234 (a) b (c)) T 1 1234')).toBe('T');
    expect(processState('garbage')).toBe('?');
  });

  it('writes and reads the token a holder leaves in the lock file', () => {
    expect(parseHolderToken(holderToken(42, 'm1x.7'))).toEqual({ pid: 42, acquisition: 'm1x.7' });
    expect(holderToken(4194304, `${Date.now().toString(36)}.${Number.MAX_SAFE_INTEGER}`)).toHaveLength(
      HOLDER_TOKEN_BYTES,
    );
    expect(parseHolderToken('42 m1x.7\n')).toEqual({ pid: 42, acquisition: 'm1x.7' }); // an unpadded one
    expect(parseHolderToken('')).toBeNull();
    expect(parseHolderToken('not a token\n')).toBeNull();
  });
});

describe('HolderWatch: when a wait gives up', () => {
  const rule = { stoppedMs: 1_000, tenureMs: 10_000 };

  it('a lock that changes hands is progress, however long the wait', () => {
    const w = new HolderWatch(rule);
    for (let t = 0; t < 100_000; t += 500) expect(w.observe(t, [running(1000 + (t % 2000))])).toBeNull();
  });

  it('one long-lived process that takes the lock again and again is progress: its token changes', () => {
    const w = new HolderWatch(rule);
    for (let t = 0; t < 100_000; t += 500) expect(w.observe(t, [running(77, `a.${t}`)])).toBeNull();
  });

  it('the same holder, stopped, for stoppedMs: stuck, naming it', () => {
    const w = new HolderWatch(rule);
    expect(w.observe(0, [running(77, 'a.1')])).toBeNull();
    expect(w.observe(500, [stopped(77, 'a.1')])).toBeNull();
    expect(w.observe(1_400, [stopped(77, 'a.1')])).toBeNull();
    expect(w.observe(1_500, [stopped(77, 'a.1')])).toEqual({
      holder: stopped(77, 'a.1'),
      why: 'stopped',
      forMs: 1_000,
    });
  });

  it('a holder continued before stoppedMs starts over', () => {
    const w = new HolderWatch(rule);
    expect(w.observe(0, [stopped(77)])).toBeNull();
    expect(w.observe(900, [running(77)])).toBeNull();
    expect(w.observe(1_800, [stopped(77)])).toBeNull();
    expect(w.observe(2_700, [stopped(77)])).toBeNull();
  });

  it('the same acquisition, running, for tenureMs: stuck', () => {
    const w = new HolderWatch(rule);
    for (let t = 0; t < 10_000; t += 1_000) expect(w.observe(t, [running(77, 'a.1')])).toBeNull();
    expect(w.observe(10_000, [running(77, 'a.1')])).toMatchObject({ why: 'tenure', forMs: 10_000 });
  });

  it('no holder known (lock free, or another PID namespace) forgets the holders and never gives up', () => {
    const w = new HolderWatch(rule);
    expect(w.observe(0, [stopped(77)])).toBeNull();
    expect(w.observe(900, [])).toBeNull();
    expect(w.observe(1_800, [stopped(77)])).toBeNull();
    for (let t = 2_000; t < 100_000; t += 1_000) expect(w.observe(t, [])).toBeNull();
  });

  it('among shared holders, the one stuck is named while the others come and go', () => {
    const w = new HolderWatch(rule);
    expect(w.observe(0, [stopped(5), running(6)])).toBeNull();
    expect(w.observe(600, [stopped(5), running(7)])).toBeNull();
    expect(w.observe(1_000, [running(8), stopped(5)])).toMatchObject({ holder: { pid: 5 }, why: 'stopped' });
  });

  it('looks at the holders often enough for the bounds, and not more than every 10 ms', () => {
    expect(holderCheckEveryMs({ stoppedMs: 10_000, tenureMs: 60_000 })).toBe(500);
    expect(holderCheckEveryMs({ stoppedMs: 400, tenureMs: 60_000 })).toBe(100);
    expect(holderCheckEveryMs({ stoppedMs: 1, tenureMs: 1 })).toBe(10);
  });

  it('says which process, how to see it and what to do', () => {
    const text = stuckHolderText('the lock', '/var/lib/berth/locks/ports/tcp-80.lock', {
      holder: stopped(4242),
      why: 'stopped',
      forMs: 10_250,
    });
    expect(text.msg).toBe(
      'the lock /var/lib/berth/locks/ports/tcp-80.lock is held by process 4242 (berth-portmap), which has been stopped for 10.3 s',
    );
    expect(text.details).toContain('kill -CONT 4242');
    expect(text.details).toContain('ps -o pid,stat,etime,args -p 4242');
    const tenure = stuckHolderText('the lock', '/x.lock', { holder: running(9), why: 'tenure', forMs: 60_000 });
    expect(tenure.msg).toBe(
      'the lock /x.lock is held by process 9 (berth-portmap), which has not let go of it for 60.0 s',
    );
  });
});
