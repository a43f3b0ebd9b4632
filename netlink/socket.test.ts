import { describe, expect, it, vi } from 'vitest';
import { isSystemError } from '../base/binding.js';
import type { NlMsg } from './codec.js';
import {
  NLM_F_ACK,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
  RTM_SETLINK,
} from './constants.js';
import { NetlinkError } from './errors.js';
import { ackFor, datagram, doneFor, FakeKernel, replyFor } from './fake-kernel.js';
import { NetlinkHandle } from './handle.js';
import { parseLink, writeListLinks } from './links.js';
import { DUMP_ATTEMPTS, exchangeBlocking, NetlinkSocket } from './socket.js';

const link = (req: NlMsg, index: number, name: string, flags = NLM_F_MULTI) =>
  replyFor(req, RTM_NEWLINK, flags, (w) => w.ifinfomsg({ family: 0, index }).str(3, name));

function thrown(fn: () => unknown): NetlinkError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NetlinkError);
    return e as NetlinkError;
  }
  throw new Error('expected a throw');
}

describe('NetlinkSocket', () => {
  it('numbers requests and skips late answers to earlier ones', () => {
    let stale: Buffer | undefined;
    const kernel = new FakeKernel((req) => {
      const late = stale ? [stale] : [];
      stale = ackFor(req, -17); // would fail the next request if its seq were not checked
      return [...late, ackFor(req)];
    });
    const socket = new NetlinkSocket(kernel);
    socket.request(RTM_SETLINK, 0, (w) => w.ifinfomsg({ family: 0, index: 1 }), 'one');
    socket.request(RTM_SETLINK, 0, (w) => w.ifinfomsg({ family: 0, index: 1 }), 'two');
    expect(kernel.sent.map((b) => b.readUInt32LE(8))).toEqual([1, 2]);
  });

  it('turns a kernel error into a NetlinkError shaped like a Node system error', () => {
    const kernel = new FakeKernel((req) => [ackFor(req, -22, 'mtu less than device minimum')]);
    const socket = new NetlinkSocket(kernel);
    const e = thrown(() =>
      socket.request(RTM_SETLINK, 0, (w) => w.ifinfomsg({ family: 0, index: 3 }), "set mtu 10 on 'x'"),
    );
    expect(e).toMatchObject({
      code: 'EINVAL',
      errno: -22,
      syscall: 'netlink',
      extAck: 'mtu less than device minimum',
      message: "EINVAL: Invalid argument, set mtu 10 on 'x' (netlink: mtu less than device minimum)",
    });
    expect(isSystemError(e, 'EINVAL')).toBe(true);
  });

  it('names errno numbers it has no text for', () => {
    const kernel = new FakeKernel((req) => [ackFor(req, -4095)]);
    const e = thrown(() => new NetlinkSocket(kernel).request(RTM_SETLINK, 0, () => {}, 'odd'));
    expect(e).toMatchObject({ code: 'UNKNOWN', errno: -4095, message: 'UNKNOWN: Unknown error 4095, odd' });
  });

  it('returns the reply to a GET and waits for its ACK', () => {
    const kernel = new FakeKernel((req) => [link(req, 4, 'eth0', 0), ackFor(req)]);
    const socket = new NetlinkSocket(kernel);
    expect(socket.get(RTM_GETLINK, (w) => w.ifinfomsg({ family: 0, index: 4 }), parseLink, 'get')).toMatchObject({
      index: 4,
      name: 'eth0',
    });
  });

  it('collects a dump across datagrams until NLMSG_DONE', () => {
    const kernel = new FakeKernel((req) => [
      datagram(link(req, 1, 'lo'), link(req, 2, 'eth0')),
      datagram(link(req, 3, 'eth1'), doneFor(req)),
    ]);
    const links = new NetlinkSocket(kernel).dump(RTM_GETLINK, writeListLinks, parseLink, 'list links');
    expect(links.map((l) => l.name)).toEqual(['lo', 'eth0', 'eth1']);
  });

  it('redoes a dump the kernel marks interrupted, keeping only the clean one', () => {
    let attempt = 0;
    const kernel = new FakeKernel((req) => {
      attempt += 1;
      if (attempt === 1)
        return [datagram(link(req, 1, 'lo'), link(req, 2, 'old', NLM_F_MULTI | NLM_F_DUMP_INTR)), doneFor(req)];
      return [datagram(link(req, 1, 'lo'), link(req, 2, 'new'), doneFor(req))];
    });
    const links = new NetlinkSocket(kernel).dump(RTM_GETLINK, writeListLinks, parseLink, 'list links');
    expect(links.map((l) => l.name)).toEqual(['lo', 'new']);
    expect(kernel.sent).toHaveLength(2);
  });

  it('gives up on a dump that is interrupted every time', () => {
    const kernel = new FakeKernel((req) => [doneFor(req, NLM_F_MULTI | NLM_F_DUMP_INTR)]);
    const e = thrown(() => new NetlinkSocket(kernel).dump(RTM_GETLINK, writeListLinks, parseLink, 'list links'));
    expect(e.code).toBe('EINTR');
    expect(e.message).toContain(`interrupted by concurrent changes ${DUMP_ATTEMPTS} times`);
    expect(kernel.sent).toHaveLength(DUMP_ATTEMPTS);
  });

  it('fails a dump whose NLMSG_DONE carries an error', () => {
    const kernel = new FakeKernel((req) => [doneFor(req, NLM_F_MULTI, -22)]);
    const e = thrown(() => new NetlinkSocket(kernel).dump(RTM_GETLINK, writeListLinks, parseLink, 'list links'));
    expect(e).toMatchObject({ code: 'EINVAL', message: 'EINVAL: Invalid argument, list links' });
  });

  it('fails with ETIMEDOUT when the kernel stays silent', () => {
    const kernel = new FakeKernel(() => []);
    const e = thrown(() =>
      new NetlinkSocket(kernel, '', { timeoutMs: 50 }).request(RTM_SETLINK, 0, () => {}, 'set x up'),
    );
    expect(e).toMatchObject({
      code: 'ETIMEDOUT',
      message: 'ETIMEDOUT: Connection timed out, set x up: no answer from the kernel within 50 ms',
    });
  });

  it('refuses requests once closed, and closes its transport once', () => {
    const kernel = new FakeKernel();
    const socket = new NetlinkSocket(kernel);
    socket.close();
    socket.close();
    expect(kernel.closed).toBe(true);
    expect(thrown(() => socket.request(RTM_SETLINK, 0, () => {}, 'late')).code).toBe('EBADF');
  });
});

describe('NetlinkSocket.requestAsync', () => {
  const setLink = (socket: NetlinkSocket, what: string) =>
    socket.requestAsync(RTM_SETLINK, 0, (w) => w.ifinfomsg({ family: 0, index: 1 }), what);

  it('reads the ACK through the same replies as request, skipping late answers to earlier requests', async () => {
    let stale: Buffer | undefined;
    const kernel = new FakeKernel((req) => {
      const late = stale ? [stale] : [];
      stale = ackFor(req, -17);
      return [...late, ackFor(req)];
    });
    const socket = new NetlinkSocket(kernel);
    await setLink(socket, 'one');
    await setLink(socket, 'two');
    expect(kernel.sent.map((b) => b.readUInt32LE(8))).toEqual([1, 2]);
    expect(kernel.sent[0]!.readUInt16LE(6) & NLM_F_ACK).toBe(NLM_F_ACK);
  });

  it("rejects with the kernel's error, and with ETIMEDOUT when the exchange ends without an answer", async () => {
    const failing = new NetlinkSocket(new FakeKernel((req) => [ackFor(req, -16, 'device busy')]));
    await expect(setLink(failing, "delete link 'x'")).rejects.toMatchObject({
      code: 'EBUSY',
      extAck: 'device busy',
      message: "EBUSY: Device or resource busy, delete link 'x' (netlink: device busy)",
    });
    const silent = new NetlinkSocket(new FakeKernel(() => []), '', { timeoutMs: 50 });
    await expect(setLink(silent, 'set x up')).rejects.toMatchObject({
      code: 'ETIMEDOUT',
      message: 'ETIMEDOUT: Connection timed out, set x up: no answer from the kernel within 50 ms',
    });
  });

  it('has one exchange in flight per socket: the next is sent when the last has ended', async () => {
    const kernel = new FakeKernel();
    const events: string[] = [];
    let inFlight = 0;
    const exchange = kernel.exchange.bind(kernel);
    kernel.exchange = async (data, seq, timeoutMs) => {
      inFlight += 1;
      events.push(`start ${seq} (${inFlight} in flight)`);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const replies = await exchange(data, seq, timeoutMs);
      inFlight -= 1;
      return replies;
    };
    const socket = new NetlinkSocket(kernel);
    await Promise.all([setLink(socket, 'a'), setLink(socket, 'b'), setLink(socket, 'c')]);
    expect(events).toEqual(['start 1 (1 in flight)', 'start 2 (1 in flight)', 'start 3 (1 in flight)']);
  });

  it('a failed exchange does not stop the next', async () => {
    const kernel = new FakeKernel();
    const exchange = kernel.exchange.bind(kernel);
    let calls = 0;
    kernel.exchange = (data, seq, timeoutMs) => {
      calls += 1;
      return calls === 1 ? Promise.reject(new Error('recv failed')) : exchange(data, seq, timeoutMs);
    };
    const socket = new NetlinkSocket(kernel);
    const [first, second] = await Promise.allSettled([setLink(socket, 'a'), setLink(socket, 'b')]);
    expect(first).toMatchObject({ status: 'rejected', reason: { message: 'recv failed' } });
    expect(second.status).toBe('fulfilled');
  });

  it('closing refuses new requests at once, and closes the transport once the exchange in flight has ended', async () => {
    const kernel = new FakeKernel();
    let release = () => {};
    const exchange = kernel.exchange.bind(kernel);
    kernel.exchange = async (data, seq, timeoutMs) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return exchange(data, seq, timeoutMs);
    };
    const socket = new NetlinkSocket(kernel);
    const pending = setLink(socket, 'a');
    await new Promise((resolve) => setTimeout(resolve, 1));
    socket.close();
    await expect(setLink(socket, 'late')).rejects.toMatchObject({ code: 'EBADF' });
    expect(thrown(() => socket.request(RTM_SETLINK, 0, () => {}, 'late')).code).toBe('EBADF');
    expect(kernel.closed).toBe(false);
    release();
    await pending;
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(kernel.closed).toBe(true);
  });

  it('a transport that fails to close after the last exchange is no unhandled rejection', async () => {
    const kernel = new FakeKernel();
    let release = () => {};
    const exchange = kernel.exchange.bind(kernel);
    kernel.exchange = async (data, seq, timeoutMs) => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return exchange(data, seq, timeoutMs);
    };
    let closes = 0;
    kernel.close = () => {
      closes += 1;
      throw new Error('EBADF: close failed');
    };
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const socket = new NetlinkSocket(kernel);
      const pending = setLink(socket, 'a');
      await new Promise((resolve) => setTimeout(resolve, 1));
      socket.close();
      release();
      await pending;
      await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      process.off('unhandledRejection', unhandled);
    }
    expect(closes).toBe(1);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('exchangeBlocking (the fallback when the netns path is gone): the datagrams up to the end, through send and recv', async () => {
    const kernel = new FakeKernel((req) => [ackFor(req, -19)]);
    kernel.exchange = (data, seq, timeoutMs) => Promise.resolve(exchangeBlocking(kernel, data, seq, timeoutMs));
    const socket = new NetlinkSocket(kernel);
    await expect(setLink(socket, 'set a up')).rejects.toMatchObject({ code: 'ENODEV' });
    const silent = new FakeKernel(() => []);
    expect(exchangeBlocking(silent, Buffer.from(silent.sent[0] ?? []), 1, 20)).toEqual([]);
    expect(silent.sent).toHaveLength(1);
  });

  it('NetlinkHandle deletes and moves links through it', async () => {
    const kernel = new FakeKernel();
    const sync = vi.spyOn(kernel, 'send');
    const async = vi.spyOn(kernel, 'exchange');
    const h = new NetlinkHandle(new NetlinkSocket(kernel));
    await h.deleteLink('veth1');
    expect(async).toHaveBeenCalledTimes(1);
    expect(sync).toHaveBeenCalledTimes(1); // the fake's exchange sends through send
    expect(kernel.sent[0]!.readUInt16LE(4)).toBe(RTM_DELLINK);
  });
});

describe('NetlinkHandle over a fake kernel', () => {
  it('answers null for a link the kernel says ENODEV about, and ENODEV for actions on it', async () => {
    const kernel = new FakeKernel((req) => [ackFor(req, -19)]);
    const h = new NetlinkHandle(new NetlinkSocket(kernel));
    expect(await h.getLink('eth9')).toBeNull();
    await expect(h.setMaster('eth9', 'br9')).rejects.toMatchObject({
      code: 'ENODEV',
      message: "ENODEV: No such device, attach 'eth9' to 'br9': no link named 'br9'",
    });
    await expect(h.addAddress('eth9', '10.0.0.1/24')).rejects.toMatchObject({ code: 'ENODEV' });
  });

  it('checks arguments before it sends anything', async () => {
    const kernel = new FakeKernel();
    const h = new NetlinkHandle(new NetlinkSocket(kernel));
    await expect(h.createBridge('a/b')).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
      message: expect.stringContaining("'a/b'"),
    });
    await expect(h.createVeth('ok', 'this-name-is-too-long')).rejects.toThrow(
      /peer interface name 'this-name-is-too-long'/,
    );
    await expect(h.addAddress('eth0', '10.0.0.300/24')).rejects.toThrow(/invalid address '10.0.0.300\/24'/);
    await expect(h.setMac('eth0', '02:00:00:00:00')).rejects.toThrow(/invalid MAC address '02:00:00:00:00'/);
    await expect(h.addRoute({ dst: '10.0.0.0/8', gateway: 'fd00::1' })).rejects.toThrow(/mixes IPv4 and IPv6/);
    await expect(h.addRoute({ dst: 'default', dev: 2 })).rejects.toThrow(/give family 4 or 6/);
    await expect(h.setLinkUp(0)).rejects.toThrow(/invalid interface index 0/);
    await expect(h.setSysctl('net/../../etc/passwd', '1')).rejects.toThrow(/invalid sysctl key/);
    expect(kernel.sent).toHaveLength(0);
  });
});
