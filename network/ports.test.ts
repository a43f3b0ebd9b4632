import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { setBootId } from '../base/boot.js';
import type { Firewall, Owner, OwnerRules, Rules } from '../iptables/index.js';
import { PortMapper, type PublishTarget, type UdpFlowKey } from './ports.js';
import { parsePortSpec } from './portspec.js';
import { StateStore } from './state.js';

/** A firewall that only remembers what each owner was last given. */
class FakeFirewall implements Firewall {
  readonly backend = 'nftables' as const;
  readonly rules = new Map<string, Rules>();
  /** The owners of each batch, in order. */
  readonly batches: string[][] = [];
  ensureBase = async () => {};
  apply = async (owner: Owner, rules: Rules) => this.applyMany([{ owner, rules }]);
  applyMany = async (changes: readonly OwnerRules[]) => {
    this.batches.push(changes.map((c) => c.owner.id));
    for (const c of changes) this.rules.set(c.owner.id, c.rules);
  };
  /** The owners of each removal batch, in order. */
  readonly removals: string[][] = [];
  remove = async (owner: Owner) => this.removeMany([owner]);
  removeMany = async (owners: readonly Owner[]) => {
    this.removals.push(owners.map((o) => o.id));
    for (const o of owners) this.rules.delete(o.id);
  };
  reload = async () => {};
  /** Owners whose rules the kernel lacks (a flushed table): check() names a problem for them. */
  readonly lost = new Set<string>();
  check = async (owner: Owner) => (this.lost.has(owner.id) ? [`${owner.id}: ports4 is missing`] : []);
  status = async () => null;
  owners = async () => [...this.rules.keys()].map((id): Owner => ({ kind: 'container', id }));
}

const writeRaw = (path: string, text: string) => writeFileSync(path, text);

const target = (owner: string, ip = '10.0.0.2'): PublishTarget => ({
  owner,
  label: `container ${owner}`,
  containerIPs: [ip],
});

describe('PortMapper without a kernel (no hostInterface, so no sysctl)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    setBootId(undefined);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function mapper(flushUdp: (ns: string, flows: readonly UdpFlowKey[]) => Promise<void>) {
    const dir = mkdtempSync(join(tmpdir(), 'berth-ports-unit-'));
    dirs.push(dir);
    const fw = new FakeFirewall();
    const flushed: UdpFlowKey[][] = [];
    const m = new PortMapper({
      store: new StateStore(dir),
      firewall: async () => fw,
      hostNetnsPath: '',
      flushUdp: async (ns, flows) => {
        flushed.push([...flows]);
        await flushUdp(ns, flows);
      },
    });
    return { m, fw, flushed, dir };
  }

  it('flushes the UDP host ports it publishes, and records them', async () => {
    const { m, fw, flushed } = mapper(async () => {});
    await m.publish(target('a'), [parsePortSpec('8080:80'), parsePortSpec('5353:53/udp')]);
    expect(flushed).toEqual([[{ family: 4, hostPort: 5353 }]]);
    expect(m.get('a')?.mappings).toHaveLength(2);
    expect(fw.rules.get('ports:a')?.ports).toHaveLength(2);
  });

  it("flushes only the flows of what is new, on the mapping's host address and family", async () => {
    const { m, flushed } = mapper(async () => {});
    const dual = { ...target('a'), containerIPs: ['10.0.0.2', 'fd00::2'] };
    await m.publish(dual, [parsePortSpec('192.0.2.1:5353:53/udp')]);
    await m.publish(dual, [parsePortSpec('6000:60/udp')]);
    await m.unpublish('a', [{ hostPort: 5353, protocol: 'udp' }]);
    expect(flushed).toEqual([
      [{ family: 4, hostIP: '192.0.2.1', hostPort: 5353 }],
      // The second publish leaves the flows of 192.0.2.1:5353 alone.
      [
        { family: 4, hostPort: 6000 },
        { family: 6, hostPort: 6000 },
      ],
      [{ family: 4, hostIP: '192.0.2.1', hostPort: 5353 }],
    ]);
  });

  it('a failed flush leaves neither the rules nor the record of what it was publishing', async () => {
    const { m, fw } = mapper(async () => {
      throw new Error('ctnetlink said EPERM');
    });
    await expect(m.publish(target('a'), [parsePortSpec('5353:53/udp')])).rejects.toThrow('EPERM');
    expect(fw.rules.get('ports:a')).toEqual({});
    // A record left behind would hold 5353/udp against every other container.
    expect(m.get('a')).toBeNull();
    expect(m.list()).toEqual([]);
  });

  it('a failed flush on a second publish puts the first record and rules back', async () => {
    let fail = false;
    const { m, fw } = mapper(async () => {
      if (fail) throw new Error('ctnetlink said EPERM');
    });
    const first = await m.publish(target('a'), [parsePortSpec('5000:50/udp')]);
    fail = true;
    await expect(m.publish(target('a'), [parsePortSpec('5353:53/udp')])).rejects.toThrow('EPERM');
    expect(m.get('a')).toEqual(first);
    expect(fw.rules.get('ports:a')?.ports).toEqual(first.mappings);
  });

  it('refuses a port another owner holds before touching the firewall', async () => {
    const { m, fw } = mapper(async () => {});
    await m.publish(target('a'), [parsePortSpec('8080:80')]);
    await expect(m.publish(target('b', '10.0.0.3'), [parsePortSpec('8080:80')])).rejects.toMatchObject({
      code: 7,
      msg: 'host port *:8080/tcp is already published by container a (*:8080/tcp -> 10.0.0.2:80)',
    });
    expect(fw.rules.has('ports:b')).toBe(false);
    expect(m.get('b')).toBeNull();
  });
  it('reads only the records of the ports asked for, not every record', async () => {
    const { m, dir } = mapper(async () => {});
    await m.publish(target('a'), [parsePortSpec('8080:80')]);
    await m.publish(target('b', '10.0.0.3'), [parsePortSpec('9090:80')]);
    // A record that cannot be parsed would fail any read of it: a publish of another port must not touch it.
    const b = readdirSync(join(dir, 'port-claims', 'tcp-9090'))[0]!;
    writeRaw(join(dir, 'ports', `${b}.json`), '{');
    await m.publish(target('c', '10.0.0.4'), [parsePortSpec('7070:80')]);
    expect(m.get('c')?.mappings).toHaveLength(1);
  });

  it('claims each host port while it is published and lets go on unpublish', async () => {
    const { m, dir } = mapper(async () => {});
    await m.publish(target('a'), [parsePortSpec('8080:80'), parsePortSpec('5353:53/udp')]);
    expect(readdirSync(join(dir, 'port-claims')).sort()).toEqual(['tcp-8080', 'udp-5353']);
    await m.unpublish('a', [{ hostPort: 5353, protocol: 'udp' }]);
    expect(readdirSync(join(dir, 'port-claims'))).toEqual(['tcp-8080']);
    await m.unpublish('a');
    expect(readdirSync(join(dir, 'port-claims'))).toEqual([]);
    await m.publish(target('b', '10.0.0.3'), [parsePortSpec('8080:80')]);
    expect(m.get('b')?.mappings).toHaveLength(1);
  });

  it('builds the claims from the records when the state has none yet', async () => {
    const { m, dir } = mapper(async () => {});
    await m.publish(target('a'), [parsePortSpec('8080:80')]);
    rmSync(join(dir, 'port-claims'), { recursive: true });
    await expect(m.publish(target('b', '10.0.0.3'), [parsePortSpec('8080:80')])).rejects.toMatchObject({
      msg: 'host port *:8080/tcp is already published by container a (*:8080/tcp -> 10.0.0.2:80)',
    });
    expect(existsSync(join(dir, 'port-claims', 'tcp-8080'))).toBe(true);
  });

  it('drops a claim whose record is gone', async () => {
    const { m, dir } = mapper(async () => {});
    await m.publish(target('a'), [parsePortSpec('8080:80')]);
    const name = readdirSync(join(dir, 'port-claims', 'tcp-8080'))[0]!;
    unlinkSync(join(dir, 'ports', `${name}.json`));
    await m.publish(target('b', '10.0.0.3'), [parsePortSpec('8080:80')]);
    expect(readdirSync(join(dir, 'port-claims', 'tcp-8080'))).toHaveLength(1);
    expect(m.get('b')?.mappings).toHaveLength(1);
  });

  it('commits the rules it is given along with its own in one batch, and none of them when a port is taken', async () => {
    const { m, fw } = mapper(async () => {});
    const masq = (id: string, ip: string) => ({
      owner: { kind: 'container' as const, id },
      rules: { masquerade: [{ source: ip, subnet: '10.0.0.0/24' }] },
    });
    await m.publish(target('a'), [parsePortSpec('8080:80')], undefined, [masq('net/a', '10.0.0.2')]);
    expect(fw.batches).toEqual([['net/a', 'ports:a']]);
    expect(fw.rules.get('net/a')).toEqual(masq('net/a', '10.0.0.2').rules);
    await expect(
      m.publish(target('b', '10.0.0.3'), [parsePortSpec('8080:80')], undefined, [masq('net/b', '10.0.0.3')]),
    ).rejects.toMatchObject({ code: 7 });
    expect(fw.batches).toHaveLength(1);
    expect(fw.rules.has('net/b')).toBe(false);
  });

  it('removes the owners it is given along with its own ports in one batch, also when nothing is published', async () => {
    const { m, fw } = mapper(async () => {});
    const attachment = (id: string): Owner => ({ kind: 'container', id });
    await m.publish(target('a'), [parsePortSpec('8080:80')]);
    await m.unpublish('a', undefined, [attachment('net/a')]);
    await m.unpublish('b', undefined, [attachment('net/b')]);
    expect(fw.removals).toEqual([
      ['ports:a', 'net/a'],
      ['ports:b', 'net/b'],
    ]);
    expect(m.get('a')).toBeNull();
  });

  describe('a record that stands for nothing in the kernel blocks nothing', () => {
    const claimsOf = (dir: string) =>
      existsSync(join(dir, 'port-claims'))
        ? readdirSync(join(dir, 'port-claims')).flatMap((k) => readdirSync(join(dir, 'port-claims', k)))
        : [];

    it('a record of a boot that is over gives its port to a new owner, and goes with its claims and rules', async () => {
      const { m, fw, dir } = mapper(async () => {});
      setBootId('boot-1');
      await m.publish(target('a'), [parsePortSpec('8080:80'), parsePortSpec('5353:53/udp')]);
      setBootId('boot-2');
      expect(m.get('a')).toBeNull();
      expect(await m.staleness(m.list()[0]!)).toBe('earlier-boot');
      const b = await m.publish(target('b', '10.0.0.3'), [parsePortSpec('8080:80')]);
      expect(b.boot).toBe('boot-2');
      expect(m.list().map((r) => r.owner)).toEqual(['b']);
      expect(fw.rules.has('ports:a')).toBe(false);
      expect(claimsOf(dir)).toHaveLength(1);
    });

    it('the same owner publishing again after a reboot publishes only what it asks now', async () => {
      const { m } = mapper(async () => {});
      setBootId('boot-1');
      await m.publish(target('a'), [parsePortSpec('8080:80')]);
      setBootId('boot-2');
      const again = await m.publish(target('a'), [parsePortSpec('9090:90')]);
      expect(again.specs.map((s) => s.hostPort)).toEqual([9090]);
    });

    it('unpublish of a record of a boot that is over forgets it', async () => {
      const { m, dir } = mapper(async () => {});
      setBootId('boot-1');
      await m.publish(target('a'), [parsePortSpec('8080:80')]);
      setBootId('boot-2');
      await m.unpublish('a', [{ hostPort: 8080, protocol: 'tcp' }]);
      expect(m.list()).toEqual([]);
      expect(claimsOf(dir)).toEqual([]);
    });

    it('a holder whose netns is gone and whose rules the kernel lost gives its port up; one with either stays', async () => {
      const { m, fw } = mapper(async () => {});
      const gone = join(tmpdir(), `berth-no-such-netns-${process.pid}`);
      await m.publish(target('a'), [parsePortSpec('8080:80')], gone);
      await m.publish(target('b', '10.0.0.3'), [parsePortSpec('9090:80')], '/proc/self/ns/net');
      // The netns is gone but the rules are there: a container the runtime has yet to DEL.
      await expect(m.publish(target('c', '10.0.0.4'), [parsePortSpec('8080:80')])).rejects.toMatchObject({ code: 7 });
      // The rules are lost but the netns is there: `berth firewall reload` brings them back.
      fw.lost.add('ports:b');
      await expect(m.publish(target('c', '10.0.0.4'), [parsePortSpec('9090:80')])).rejects.toMatchObject({ code: 7 });
      fw.lost.add('ports:a');
      expect(await m.staleness(m.get('a')!)).toBe('lost');
      await m.publish(target('c', '10.0.0.4'), [parsePortSpec('8080:80')]);
      expect(
        m
          .list()
          .map((r) => r.owner)
          .sort(),
      ).toEqual(['b', 'c']);
    });

    it('removeIfStale removes a stale record only', async () => {
      const { m } = mapper(async () => {});
      setBootId('boot-1');
      await m.publish(target('a'), [parsePortSpec('8080:80')]);
      setBootId('boot-2');
      await m.publish(target('b', '10.0.0.3'), [parsePortSpec('9090:80')]);
      expect(await m.removeIfStale('b')).toBe(false);
      expect(await m.removeIfStale('a')).toBe(true);
      expect(m.list().map((r) => r.owner)).toEqual(['b']);
    });
  });

  it('a failed publish leaves no claim behind', async () => {
    const { m, dir } = mapper(async () => {
      throw new Error('flush failed');
    });
    await expect(m.publish(target('a'), [parsePortSpec('5353:53/udp')])).rejects.toThrow('flush failed');
    expect(readdirSync(join(dir, 'port-claims'))).toEqual([]);
  });
});
