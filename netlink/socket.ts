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
  /**
   * Sends a request and collects the datagrams that answer it, up to the one that ends it (see
   * endsExchange) or the timeout, without blocking the calling thread. Its replies never mix with
   * send/recv's: in production it is a socket of its own.
   */
  exchange(data: Buffer, seq: number, timeoutMs: number): Promise<Buffer[]>;
  close(): void;
}

/** Whether a datagram holds what ends the exchange of request seq: its ACK or error, its dump's end, an overrun. */
export function endsExchange(datagram: Buffer, seq: number): boolean {
  return parseMessages(datagram).some(
    (msg) => msg.seq === seq && (msg.type === NLMSG_ERROR || msg.type === NLMSG_DONE || msg.type === NLMSG_OVERRUN),
  );
}

/**
 * An exchange's datagrams through send and recv, up to the one that ends it or the timeout (then
 * those that came): what the asynchronous exchange collects, on the calling thread.
 */
export function exchangeBlocking(
  transport: Pick<NetlinkTransport, 'send' | 'recv'>,
  data: Buffer,
  seq: number,
  timeoutMs: number,
): Buffer[] {
  transport.send(data);
  const deadline = Date.now() + timeoutMs;
  const datagrams: Buffer[] = [];
  for (;;) {
    const left = deadline - Date.now();
    const datagram = left > 0 ? transport.recv(left) : null;
    if (!datagram) return datagrams;
    datagrams.push(datagram);
    if (endsExchange(datagram, seq)) return datagrams;
  }
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
 * request, get and dump are synchronous from send to the last reply, so callers on one
 * event loop can never interleave their replies; sequence numbers only have to
 * shed late answers to a request that timed out. requestAsync waits for the kernel
 * off the thread, for requests the kernel takes long over (deleting a link waits for
 * its unregistering); those run one at a time per socket, on the transport's exchange.
 */
export class NetlinkSocket {
  private readonly writer = new NlWriter();
  private seq = 0;
  private closed = false;
  private readonly timeoutMs: number;
  /** The last asynchronous exchange queued; the next starts after it, and closing waits for it. */
  private asyncTail: Promise<unknown> = Promise.resolve();
  private asyncPending = 0;

  /** Opens a socket inside netnsPath ('' = the calling thread's netns). */
  static open(netnsPath = '', options: NetlinkSocketOptions = {}, protocol = NETLINK_ROUTE): NetlinkSocket {
    const b = binding();
    const fd = b.openSocket(protocol, netnsPath, 0);
    // The asynchronous exchanges get a socket of their own, opened on first use, so that a
    // synchronous exchange started while one is in flight never takes its replies.
    let asyncFd: number | undefined;
    const send = (data: Buffer) => {
      b.send(fd, data);
    };
    const recv = (timeoutMs: number) => b.recv(fd, timeoutMs);
    const transport: NetlinkTransport = {
      send,
      recv,
      exchange: async (data, seq, timeoutMs) => {
        if (asyncFd === undefined) {
          try {
            asyncFd = b.openSocket(protocol, netnsPath, 0);
          } catch (e) {
            // The netns path is gone since open() (a /proc/<pid>/ns/net of a process that exited):
            // the first socket still lives in that netns, so the exchange runs on it, blocking.
            if (!isSystemError(e, 'ENOENT')) throw e;
            return exchangeBlocking({ send, recv }, data, seq, timeoutMs);
          }
        }
        return b.exchange(asyncFd, data, seq, timeoutMs);
      },
      close: () => {
        b.close(fd);
        if (asyncFd !== undefined) b.close(asyncFd);
      },
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

  /** Refuses new requests at once; the transport closes once the asynchronous exchanges in flight end. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.asyncPending === 0) this.transport.close();
    // Nobody is left to tell of a close that fails here; unhandled, it would end the process.
    else void this.asyncTail.then(() => this.transport.close()).catch(() => {});
  }

  /**
   * Sends a request with NLM_F_ACK and waits for its ACK. `what` names the
   * operation in errors ("create veth 'a'"). Throws NetlinkError on a kernel error.
   */
  request(type: number, flags: number, body: RequestBody, what: string): void {
    this.exchange(type, flags | NLM_F_ACK, body, what, false, undefined);
  }

  /** request, with the wait for the kernel's answer off the thread. */
  async requestAsync(type: number, flags: number, body: RequestBody, what: string): Promise<void> {
    if (this.closed) throw new NetlinkError(EBADF, `${what}: the netlink socket is closed`);
    const seq = this.nextSeq();
    this.writer.begin(type, flags | NLM_F_ACK | NLM_F_REQUEST, seq);
    body(this.writer);
    const data = Buffer.from(this.writer.finish()); // the writer is reused before this exchange starts
    this.asyncPending += 1;
    const run = this.asyncTail.then(() => this.transport.exchange(data, seq, this.timeoutMs));
    this.asyncTail = run.then(
      () => this.asyncPending--,
      () => this.asyncPending--,
    );
    const replies = new Replies(seq, what, false, undefined);
    for (const datagram of await run) if (replies.take(datagram)) return;
    throw new NetlinkError(ETIMEDOUT, `${what}: no answer from the kernel within ${this.timeoutMs} ms`);
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
    const replies = new Replies(seq, what, isDump, onReply);
    for (;;) {
      const left = deadline - Date.now();
      const datagram = left > 0 ? this.transport.recv(left) : null;
      if (!datagram) {
        throw new NetlinkError(ETIMEDOUT, `${what}: no answer from the kernel within ${this.timeoutMs} ms`);
      }
      if (replies.take(datagram)) return replies.interrupted;
    }
  }

  private nextSeq(): number {
    this.seq = this.seq >= 0xffffffff ? 1 : this.seq + 1;
    return this.seq;
  }
}

/** The replies to one request, datagram by datagram, whichever way they were received. */
class Replies {
  interrupted = false;

  constructor(
    private readonly seq: number,
    private readonly what: string,
    private readonly isDump: boolean,
    private readonly onReply: ((msg: NlMsg) => void) | undefined,
  ) {}

  /** Takes one datagram; true once the exchange is over. Throws the kernel's error. */
  take(datagram: Buffer): boolean {
    for (const msg of parseMessages(datagram)) {
      if (msg.seq !== this.seq) continue; // a late answer to an earlier request that timed out
      if (msg.flags & NLM_F_DUMP_INTR) this.interrupted = true;
      switch (msg.type) {
        case NLMSG_NOOP:
          break;
        case NLMSG_ERROR: {
          const status = readNlmsgerr(msg);
          if (status.error !== 0) throw new NetlinkError(-status.error, this.what, status.extAck, status.extAckOffset);
          if (!this.isDump) return true;
          break;
        }
        case NLMSG_DONE: {
          const status = readDone(msg);
          if (status.error !== 0) throw new NetlinkError(-status.error, this.what, status.extAck, status.extAckOffset);
          return true;
        }
        case NLMSG_OVERRUN:
          throw new NetlinkError(ENOBUFS, `${this.what}: the kernel reported an overrun`);
        default:
          this.onReply?.(msg);
      }
    }
    return false;
  }
}
