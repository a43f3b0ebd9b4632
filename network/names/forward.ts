import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

const DNS_PORT = 53;

export interface ForwarderOptions {
  /** How long one upstream has to answer before the next is asked. */
  readonly timeoutMs?: number;
  /** Forwards in flight at most; a query beyond gets no upstream (its client gets SERVFAIL). */
  readonly maxInFlight?: number;
  readonly port?: number;
}

/**
 * Sends a query to the host's resolvers, in order, each given timeoutMs, and gives the first
 * answer that carries the query's ID; undefined when none answered. Each forward has a socket of
 * its own (a fresh source port), closed when it is done.
 */
export class Forwarder {
  private inFlight = 0;
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly port: number;

  constructor(
    private readonly upstreams: () => readonly string[],
    options: ForwarderOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.maxInFlight = options.maxInFlight ?? 256;
    this.port = options.port ?? DNS_PORT;
  }

  get pending(): number {
    return this.inFlight;
  }

  udp(query: Buffer): Promise<Buffer | undefined> {
    return this.each((upstream) => this.udpOnce(upstream, query));
  }

  tcp(query: Buffer): Promise<Buffer | undefined> {
    return this.each((upstream) => this.tcpOnce(upstream, query));
  }

  private async each(ask: (upstream: string) => Promise<Buffer | undefined>): Promise<Buffer | undefined> {
    if (this.inFlight >= this.maxInFlight) return undefined;
    this.inFlight++;
    try {
      for (const upstream of this.upstreams()) {
        const answer = await ask(upstream).catch(() => undefined);
        if (answer) return answer;
      }
      return undefined;
    } finally {
      this.inFlight--;
    }
  }

  private udpOnce(upstream: string, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = createSocket(upstream.includes(':') ? 'udp6' : 'udp4');
      const done = (answer: Buffer | undefined) => {
        clearTimeout(timer);
        socket.close();
        resolve(answer);
      };
      const timer = setTimeout(() => done(undefined), this.timeoutMs);
      socket.on('error', () => done(undefined));
      socket.on('message', (msg) => {
        if (msg.length >= 2 && msg.readUInt16BE(0) === query.readUInt16BE(0)) done(msg);
      });
      // A send that fails (no route to the upstream) is said to this callback, not as an 'error' event.
      socket.send(query, this.port, upstream, (e) => {
        if (e) done(undefined);
      });
    });
  }

  private tcpOnce(upstream: string, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = connect({ host: upstream, port: this.port });
      let received = Buffer.alloc(0);
      const done = (answer: Buffer | undefined) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(answer);
      };
      const timer = setTimeout(() => done(undefined), this.timeoutMs);
      socket.on('error', () => done(undefined));
      socket.on('close', () => done(undefined));
      socket.on('connect', () => socket.write(frame(query)));
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const message = unframe(received);
        if (message) done(message.message);
      });
    });
  }
}

/** A DNS message as TCP carries it: its length in 2 bytes, then the message. */
export function frame(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

/** The first whole message in bytes read from TCP, with how many bytes it took; undefined while it is not all there. */
export function unframe(bytes: Buffer): { readonly message: Buffer; readonly used: number } | undefined {
  if (bytes.length < 2) return undefined;
  const length = bytes.readUInt16BE(0);
  if (bytes.length < 2 + length) return undefined;
  return { message: bytes.subarray(2, 2 + length), used: 2 + length };
}
