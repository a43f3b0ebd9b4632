import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dns from 'dns-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { frame, unframe } from './forward.js';
import type { NameRecord } from './model.js';
import { NameService } from './server.js';
import { NamesStore } from './store.js';

const query = (name: string, type = 'A') =>
  dns.encode({ type: 'query', id: 7, flags: dns.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function askUdp(port: number, message: Buffer): Promise<dns.DecodedPacket> {
  const sock = createSocket('udp4');
  return new Promise<dns.DecodedPacket>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no UDP answer in 2 s')), 2000);
    sock.once('message', (m) => {
      clearTimeout(timer);
      resolve(dns.decode(m));
    });
    sock.send(message, port, '127.0.0.1');
  }).finally(() => sock.close());
}

function askTcp(port: number, message: Buffer): Promise<dns.DecodedPacket> {
  const conn = connect({ host: '127.0.0.1', port });
  let got = Buffer.alloc(0);
  return new Promise<dns.DecodedPacket>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no TCP answer in 2 s')), 2000);
    conn.on('error', reject);
    conn.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const next = unframe(got);
      if (next) {
        clearTimeout(timer);
        resolve(dns.decode(next.message));
      }
    });
    conn.write(frame(message));
  }).finally(() => conn.destroy());
}

describe('NameService', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('answers SERVFAIL over UDP and TCP when answering throws, logs it once, and keeps serving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-names-server-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const store = NamesStore.in(dir);
    store.setNetwork({ network: 'lo', listen: ['127.0.0.1'], subnets: ['127.0.0.0/8'] });
    // A damaged record (no addresses): reading it throws inside the answer code.
    store.put('lo', { owner: 'broken', names: ['x'] } as unknown as NameRecord);
    const lines: string[] = [];
    const port = await freePort();
    const service = new NameService({ store, port, pollMs: 60_000, log: (l) => lines.push(l) });
    await service.start();
    cleanup.push(() => service.stop());
    expect(service.status().listening).toEqual({ '127.0.0.1': 'lo' });

    expect(await askUdp(port, query('x'))).toMatchObject({ id: 7, rcode: 'SERVFAIL' });
    expect(await askUdp(port, query('x'))).toMatchObject({ id: 7, rcode: 'SERVFAIL' });
    expect(await askTcp(port, query('x', 'AAAA'))).toMatchObject({ id: 7, rcode: 'SERVFAIL' });
    expect(lines.filter((l) => l.includes('answering a query')).length).toBe(1);

    store.put('lo', { owner: 'broken', names: ['x'], addresses: ['127.0.0.5'] });
    await service.refresh();
    const ok = await askUdp(port, query('x'));
    expect(ok).toMatchObject({ rcode: 'NOERROR', answers: [{ type: 'A', data: '127.0.0.5' }] });
  });
});
