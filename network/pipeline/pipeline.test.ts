import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BerthError, TeardownErrors } from '../../base/errors.js';
import { type EndpointRecord, endpointKey } from '../model.js';
import { LIBRARY_KEYS } from '../shaping/limits.js';
import { StateStore } from '../state.js';
import type { AddressSource } from './addressing.js';
import { attach } from './attach.js';
import { detach } from './detach.js';
import type { AttachRequest, DetachRequest } from './request.js';

/** The pipeline's order and undo over the null driver (no kernel), a recording address source and a temp store. */
describe('the attachment pipeline', () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function setUp(release: () => Promise<void> = async () => undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'berth-pipeline-'));
    dirs.push(dir);
    const store = new StateStore(dir);
    const calls: string[] = [];
    const source: AddressSource = {
      name: 'addresses of ep',
      acquire: async (ifname) => {
        calls.push(`acquire ${ifname}`);
        return { ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1' }], routes: [] };
      },
      release: async (ifname) => {
        calls.push(`release ${ifname}`);
        await release();
      },
      check: async () => undefined,
    };
    const endpoint = { name: 'ep', id: 'abcdef012345', network: 'n', createdAt: 'then' };
    const request: AttachRequest = {
      identity: { owner: 'abcdef012345', name: 'endpoint ep of network n', hostLink: '' },
      hostNetnsPath: '',
      network: { name: 'n', driver: 'null', settings: {} },
      netnsPath: '/run/netns/none',
      ifname: 'eth0',
      addresses: source,
      loopback: false,
      rules: { kind: 'network' },
      record: { store, endpoint, sandbox: 'sb' },
      log: () => undefined,
    };
    const detachRequest = (kind: 'endpoint' | 'attachment'): DetachRequest => ({
      identity: request.identity,
      hostNetnsPath: '',
      network: { name: 'n', driver: 'null' },
      ifname: 'eth0',
      addresses: source,
      loopback: false,
      record: { store, network: 'n', name: 'ep', kind },
      log: () => undefined,
    });
    const read = () => store.read<EndpointRecord>('endpoints', endpointKey('n', 'ep'));
    return { store, calls, request, detachRequest, read };
  }

  it('attaches: addresses, then the record of the join', async () => {
    const { calls, request, read } = setUp();
    const att = await attach(request);
    expect(calls).toEqual(['acquire eth0']);
    expect(att.record).toEqual(read());
    expect(read()?.join).toEqual({
      sandbox: 'sb',
      netnsPath: '/run/netns/none',
      ifname: 'eth0',
      hostVeth: '',
      mac: '',
      addresses: [],
    });
  });

  it('releases the addresses when the record cannot be written, and throws what failed', async () => {
    const { store, calls, request, read } = setUp();
    const failure = new Error('disk full');
    vi.spyOn(store, 'writeAsync').mockRejectedValueOnce(failure);
    await expect(attach(request)).rejects.toBe(failure);
    expect(calls).toEqual(['acquire eth0', 'release eth0']);
    expect(read()).toBeNull();
  });

  it('refuses limits on a driver that makes no host end with code 7, undoing what it made', async () => {
    const { calls, request, read } = setUp();
    const shaping = { bandwidth: { egress: { rate: 10_000_000 } }, keys: LIBRARY_KEYS };
    const err = await attach({ ...request, shaping }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 7, msg: expect.stringContaining('a null network (n) makes none') });
    expect(calls).toEqual(['acquire eth0', 'release eth0']);
    expect(read()).toBeNull();
    // No limits, nothing to shape: the same request attaches.
    await attach({ ...request, shaping: { bandwidth: {}, keys: LIBRARY_KEYS } });
    expect(read()?.join).toBeDefined();
  });

  it('detaches a library endpoint: releases, keeps the endpoint without its join; nothing joined is nothing to do', async () => {
    const { calls, request, detachRequest, read } = setUp();
    await attach(request);
    await detach(detachRequest('endpoint'));
    expect(calls).toEqual(['acquire eth0', 'release eth0']);
    expect(read()).toEqual(request.record!.endpoint);
    await detach(detachRequest('endpoint'));
    expect(calls).toEqual(['acquire eth0', 'release eth0']);
  });

  it('detaches a CNI attachment by every step, reporting all errors together, and removes its record', async () => {
    const { calls, request, detachRequest, read } = setUp(async () => {
      throw new Error('IPAM is away');
    });
    await attach(request);
    const err = await detach(detachRequest('attachment')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TeardownErrors);
    expect((err as TeardownErrors).details).toBe('addresses of ep: IPAM is away');
    expect(read()).toBeNull();
    expect(calls).toEqual(['acquire eth0', 'release eth0']);
  });

  it("refuses to detach what the record says is not the caller's, before any step", async () => {
    const { calls, request, detachRequest, read } = setUp();
    await attach(request);
    const refusal = new BerthError(7, 'joined elsewhere');
    const req = detachRequest('endpoint');
    await expect(
      detach({
        ...req,
        record: {
          ...req.record!,
          expect: () => {
            throw refusal;
          },
        },
      }),
    ).rejects.toBe(refusal);
    expect(calls).toEqual(['acquire eth0']);
    expect(read()?.join).toBeDefined();
  });
});
