import { type NlMsg, NlWriter, parseMessages } from './codec.js';
import {
  IFINFOMSG_LEN,
  IFLA_IFNAME,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_MSG,
  RTM_GETLINK,
  RTM_NEWLINK,
} from './constants.js';
import { NetlinkHandle } from './handle.js';
import { endsExchange, NetlinkSocket, type NetlinkTransport } from './socket.js';

/**
 * A stand-in for the kernel's end of a netlink socket, for unit tests that
 * need a NetlinkSocket or NetlinkHandle without root:
 *
 *   const kernel = new FakeKernel((req) => [ackFor(req)]);
 *   const handle = new NetlinkHandle(new NetlinkSocket(kernel));
 *   await handle.setLinkUp(3);
 *   kernel.sent[0]  // the request's bytes
 *
 * `answer` sees each request as it is sent and returns the datagrams the
 * kernel would send back; recv() hands them out in order, then reports silence,
 * and exchange() hands out those up to the one that ends the request.
 */
export class FakeKernel implements NetlinkTransport {
  readonly sent: Buffer[] = [];
  closed = false;
  private readonly queue: Buffer[] = [];

  constructor(private readonly answer: (request: NlMsg) => Buffer[] = (request) => [ackFor(request)]) {}

  send(data: Buffer): void {
    const copy = Buffer.from(data); // the socket reuses its buffer for the next request
    this.sent.push(copy);
    const request = parseMessages(copy)[0];
    if (request) this.queue.push(...this.answer(request));
  }

  recv(_timeoutMs: number): Buffer | null {
    return this.queue.shift() ?? null;
  }

  /** As the binding's: the datagrams up to the one that ends request seq, or all there are (a timeout). */
  async exchange(data: Buffer, seq: number, _timeoutMs: number): Promise<Buffer[]> {
    this.send(data);
    const out: Buffer[] = [];
    for (let d = this.queue.shift(); d; d = this.queue.shift()) {
      out.push(d);
      if (endsExchange(d, seq)) break;
    }
    return out;
  }

  close(): void {
    this.closed = true;
  }
}

function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value);
  return b;
}

/** The kernel's answer to a request: an ACK (error 0), or a negative errno with an optional extended-ACK text. */
export function ackFor(request: NlMsg, error = 0, extAck?: string): Buffer {
  const w = new NlWriter();
  w.begin(NLMSG_ERROR, NLM_F_CAPPED | (extAck ? NLM_F_ACK_TLVS : 0), request.seq, 4242);
  w.raw(int32(error));
  w.raw(request.buf.subarray(request.offset, request.offset + NLMSG_HDRLEN));
  if (extAck) w.str(NLMSGERR_ATTR_MSG, extAck);
  return Buffer.from(w.finish());
}

/** The NLMSG_DONE that ends a dump. */
export function doneFor(request: NlMsg, flags = NLM_F_MULTI, error = 0): Buffer {
  const w = new NlWriter();
  w.begin(NLMSG_DONE, flags, request.seq, 4242);
  w.raw(int32(error));
  return Buffer.from(w.finish());
}

/** One reply message with the request's sequence number; body writes its fixed header and attributes. */
export function replyFor(request: NlMsg, type: number, flags: number, body: (w: NlWriter) => void): Buffer {
  const w = new NlWriter();
  w.begin(type, flags, request.seq, 4242);
  body(w);
  return Buffer.from(w.finish());
}

/** Several messages in one datagram, as the kernel packs a dump. */
export function datagram(...messages: Buffer[]): Buffer {
  return Buffer.concat(messages);
}

/** Hex with `//` comments and whitespace ignored, for writing expected bytes field by field. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\/\/.*$/gm, '').replace(/\s+/g, ''), 'hex');
}

/** The requests a handle sends for fn, the fake kernel acking each (and answering GETLINK with `links`). */
export async function requestsOf(
  fn: (h: NetlinkHandle) => Promise<unknown>,
  links: Record<string, number> = {},
): Promise<Buffer[]> {
  const kernel = new FakeKernel((req) => {
    if (req.type !== RTM_GETLINK) return [ackFor(req)];
    const name = req.attrs(IFINFOMSG_LEN).str(IFLA_IFNAME) ?? '';
    const index = links[name];
    if (index === undefined) return [ackFor(req, -19)];
    const reply = replyFor(req, RTM_NEWLINK, 0, (w) => w.ifinfomsg({ family: 0, index }).str(IFLA_IFNAME, name));
    return [reply, ackFor(req)];
  });
  await fn(new NetlinkHandle(new NetlinkSocket(kernel)));
  return kernel.sent;
}
