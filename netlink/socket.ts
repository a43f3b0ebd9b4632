import { binding, isSystemError } from '../base/binding.js';
import { type NlMsg, NlWriter, parseMessages, readDone, readNlmsgerr } from './codec.js';
import {
  NETLINK_ROUTE,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
} from './constants.js';
import { NetlinkError } from './errors.js';

/** What a NetlinkSocket needs from the kernel: the binding in production, a script in tests. */
export interface NetlinkTransport {
  send(data: Buffer): void;
  /** One datagram, or null when nothing came within timeoutMs. */
  recv(timeoutMs: number): Buffer | null;
  close(): void;
}

export const DEFAULT_TIMEOUT_MS = 5000;
/** How many times a dump the kernel marks interrupted (NLM_F_DUMP_INTR) is redone before giving up. */
export const DUMP_ATTEMPTS = 10;

const EBADF = 9;
const EINTR = 4;
const ENOBUFS = 105;
const ETIMEDOUT = 110;

export interface NetlinkSocketOptions {
  /** How long to wait for the kernel's answer to one request. */
  timeoutMs?: number;
}

/** Writes a request's fixed header and attributes after the nlmsghdr the socket wrote. */
export type RequestBody = (w: NlWriter) => void;

/**
 * A netlink socket bound to one netns, speaking request/ACK and dumps.
 * Every exchange is synchronous from send to the last reply, so callers on one
 * event loop can never interleave their replies; sequence numbers only have to
 * shed late answers to a request that timed out.
 */
export class NetlinkSocket {
  private readonly writer = new NlWriter();
  private seq = 0;
  private closed = false;
  private readonly timeoutMs: number;

  /** Opens a socket inside netnsPath ('' = the calling thread's netns). */
  static open(netnsPath = '', options: NetlinkSocketOptions = {}, protocol = NETLINK_ROUTE): NetlinkSocket {
    const b = binding();
    const fd = b.openSocket(protocol, netnsPath, 0);
    const transport: NetlinkTransport = {
      send: (data) => {
        b.send(fd, data);
      },
      recv: (timeoutMs) => b.recv(fd, timeoutMs),
      close: () => b.close(fd),
    };
    return new NetlinkSocket(transport, netnsPath, options);
  }

  constructor(
    private readonly transport: NetlinkTransport,
    readonly netnsPath = '',
    options: NetlinkSocketOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.transport.close();
  }

  /**
   * Sends a request with NLM_F_ACK and waits for its ACK. `what` names the
   * operation in errors ("create veth 'a'"). Throws NetlinkError on a kernel error.
   */
  request(type: number, flags: number, body: RequestBody, what: string): void {
    this.exchange(type, flags | NLM_F_ACK, body, what, false, undefined);
  }

  /** A GET of one object: its first reply, parsed. The kernel says ENODEV & co when there is none. */
  get<T>(type: number, body: RequestBody, parse: (msg: NlMsg) => T | undefined, what: string): T | undefined {
    let found: T | undefined;
    this.exchange(type, NLM_F_ACK, body, what, false, (msg) => {
      found ??= parse(msg);
    });
    return found;
  }

  /**
   * A dump: every reply until NLMSG_DONE, parsed (undefined drops a reply).
   * A dump the kernel marks interrupted, because the table changed under it,
   * or one lost to a receive-buffer overrun is redone from the start.
   */
  dump<T>(type: number, body: RequestBody, parse: (msg: NlMsg) => T | undefined, what: string): T[] {
    for (let attempt = 1; ; attempt++) {
      const out: T[] = [];
      let interrupted: boolean;
      try {
        interrupted = this.exchange(type, NLM_F_DUMP, body, what, true, (msg) => {
          const value = parse(msg);
          if (value !== undefined) out.push(value);
        });
      } catch (e) {
        if (isSystemError(e, 'ENOBUFS') && attempt < DUMP_ATTEMPTS) continue;
        throw e;
      }
      if (!interrupted) return out;
      if (attempt >= DUMP_ATTEMPTS) {
        throw new NetlinkError(EINTR, `${what}: the dump was interrupted by concurrent changes ${attempt} times`);
      }
    }
  }

  /** One request and its replies; returns whether the kernel flagged the dump interrupted. */
  private exchange(
    type: number,
    flags: number,
    body: RequestBody,
    what: string,
    isDump: boolean,
    onReply: ((msg: NlMsg) => void) | undefined,
  ): boolean {
    if (this.closed) throw new NetlinkError(EBADF, `${what}: the netlink socket is closed`);
    const seq = this.nextSeq();
    this.writer.begin(type, flags | NLM_F_REQUEST, seq);
    body(this.writer);
    this.transport.send(this.writer.finish());

    const deadline = Date.now() + this.timeoutMs;
    let interrupted = false;
    for (;;) {
      const left = deadline - Date.now();
      const datagram = left > 0 ? this.transport.recv(left) : null;
      if (!datagram) {
        throw new NetlinkError(ETIMEDOUT, `${what}: no answer from the kernel within ${this.timeoutMs} ms`);
      }
      for (const msg of parseMessages(datagram)) {
        if (msg.seq !== seq) continue; // a late answer to an earlier request that timed out
        if (msg.flags & NLM_F_DUMP_INTR) interrupted = true;
        switch (msg.type) {
          case NLMSG_NOOP:
            break;
          case NLMSG_ERROR: {
            const status = readNlmsgerr(msg);
            if (status.error !== 0) throw new NetlinkError(-status.error, what, status.extAck, status.extAckOffset);
            if (!isDump) return interrupted;
            break;
          }
          case NLMSG_DONE: {
            const status = readDone(msg);
            if (status.error !== 0) throw new NetlinkError(-status.error, what, status.extAck, status.extAckOffset);
            return interrupted;
          }
          case NLMSG_OVERRUN:
            throw new NetlinkError(ENOBUFS, `${what}: the kernel reported an overrun`);
          default:
            onReply?.(msg);
        }
      }
    }
  }

  private nextSeq(): number {
    this.seq = this.seq >= 0xffffffff ? 1 : this.seq + 1;
    return this.seq;
  }
}
