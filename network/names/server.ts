import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { type Decision, decide, serverFailure, visibleNetworks } from './answer.js';
import { ChangeTracker } from './changes.js';
import { Forwarder, frame, unframe } from './forward.js';
import { ClientLimiter } from './limit.js';
import type { NamesView } from './model.js';
import type { NamesStore } from './store.js';
import { hostResolvConfPath, readUpstreams } from './upstreams.js';

export interface NameServiceOptions {
  readonly store: NamesStore;
  /** How often the records are looked at; a change is served within this (plus a read). */
  readonly pollMs?: number;
  readonly port?: number;
  /** Queries a second from one client, and its burst, before its queries are dropped. */
  readonly perClientRate?: number;
  readonly perClientBurst?: number;
  readonly forwardTimeoutMs?: number;
  /** Called after each look at the records with the addresses listened on (for the status file). */
  readonly onChange?: (status: NameServiceStatus) => void;
  readonly log: (line: string) => void;
}

export interface NameServiceStatus {
  /** Network by address, for the addresses the service listens on (UDP and TCP). */
  readonly listening: Readonly<Record<string, string>>;
  readonly networks: readonly string[];
  /** The mtime of each network's folder as it serves it (a read that is final). */
  readonly loaded: Readonly<Record<string, number>>;
  readonly upstreams: readonly string[];
}

interface Listener {
  readonly address: string;
  network: string;
  readonly udp: UdpSocket;
  readonly tcp: Server;
  readonly connections: Set<Socket>;
}

const MAX_TCP_CONNECTIONS = 128;
const TCP_IDLE_MS = 10_000;
/** A client's TCP bytes not yet a whole message, at most: one largest message and its length. */
const MAX_TCP_PENDING = 65_537;

/**
 * The name service of a host: for every network with names, UDP and TCP port 53 on its gateway
 * addresses, answered from the records in the state dir (looked at every pollMs) and, for other
 * names, by the host's resolvers. The answers are decide()'s; this class only carries bytes.
 */
export class NameService {
  private readonly pollMs: number;
  private readonly port: number;
  private readonly tracker = new ChangeTracker();
  private readonly views = new Map<string, NamesView>();
  private viewList: NamesView[] = [];
  private readonly listeners = new Map<string, Listener>();
  /** Bind failures already logged, by address: a missing address is retried quietly. */
  private readonly bindErrors = new Map<string, string>();
  /** Failures to answer already logged, by message. */
  private readonly answerErrors = new Set<string>();
  private readonly limiter: ClientLimiter;
  private readonly forwarder: Forwarder;
  private upstreams: readonly string[] = [];
  private resolvConfStamp = '';
  private timer: NodeJS.Timeout | undefined;
  private again: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly options: NameServiceOptions) {
    this.pollMs = options.pollMs ?? 200;
    this.port = options.port ?? 53;
    this.limiter = new ClientLimiter(options.perClientRate ?? 500, options.perClientBurst ?? 1000);
    this.forwarder = new Forwarder(() => this.upstreams, {
      ...(options.forwardTimeoutMs ? { timeoutMs: options.forwardTimeoutMs } : {}),
    });
  }

  /** Reads the records and binds; then looks again every pollMs until stop(). */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.pollMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.again);
    await this.refreshing;
    await Promise.all([...this.listeners.values()].map((l) => this.close(l)));
    this.listeners.clear();
  }

  /** How many networks have names now. */
  get networkCount(): number {
    return this.views.size;
  }

  status(): NameServiceStatus {
    return {
      listening: Object.fromEntries([...this.listeners.values()].map((l) => [l.address, l.network])),
      networks: [...this.views.keys()],
      loaded: Object.fromEntries(
        [...this.views.keys()].flatMap((n) => {
          const at = this.tracker.settled(n);
          return at === undefined ? [] : [[n, at]];
        }),
      ),
      upstreams: this.upstreams,
    };
  }

  /** One look at the records, the host's resolvers and the listeners; never two at once. */
  refresh(): Promise<void> {
    this.refreshing ??= this.look().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async look(): Promise<void> {
    const { store } = this.options;
    const names = store.networks();
    const now = Date.now();
    for (const network of names) {
      if (!this.tracker.changed(network, store.changedAt(network), now)) continue;
      const view = store.view(network);
      if (view) this.views.set(network, view);
      else this.views.delete(network);
    }
    for (const gone of this.tracker.retain(names)) this.views.delete(gone);
    this.viewList = [...this.views.values()];
    this.readUpstreamsIfChanged();
    await this.syncListeners();
    this.options.onChange?.(this.status());
    // A folder read in the tick it changed is read again soon, not at the next poll.
    if (this.tracker.unsettled && this.timer) {
      clearTimeout(this.again);
      this.again = setTimeout(() => void this.refresh(), this.tracker.racyMs);
    }
  }

  private readUpstreamsIfChanged(): void {
    const path = hostResolvConfPath();
    let stamp = '';
    try {
      const st = statSync(path);
      stamp = `${path}:${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      stamp = `${path}:none`;
    }
    if (stamp === this.resolvConfStamp) return;
    this.resolvConfStamp = stamp;
    this.upstreams = readUpstreams(path);
    this.options.log(`forwarding other names to ${this.upstreams.join(', ') || `nobody (no nameserver in ${path})`}`);
  }

  private async syncListeners(): Promise<void> {
    const wanted = new Map<string, string>();
    for (const view of this.viewList) for (const address of view.listen) wanted.set(address, view.network);
    for (const [address, listener] of this.listeners) {
      const network = wanted.get(address);
      if (network === undefined) {
        this.listeners.delete(address);
        await this.close(listener);
        this.options.log(`stopped listening on ${address} (network ${listener.network})`);
      } else {
        listener.network = network;
      }
    }
    for (const [address, network] of wanted) {
      if (this.listeners.has(address)) continue;
      try {
        this.listeners.set(address, await this.listen(address, network));
        this.bindErrors.delete(address);
        this.options.log(`listening on ${address} port ${this.port} (network ${network})`);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? String(e);
        if (this.bindErrors.get(address) !== code) {
          this.options.log(`cannot listen on ${address} (network ${network}): ${code}; trying again`);
          this.bindErrors.set(address, code);
        }
      }
    }
  }

  private async listen(address: string, network: string): Promise<Listener> {
    const udp = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address, port: this.port, exclusive: true }, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    const tcp = createServer();
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port: this.port, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      udp.close();
      throw e;
    }
    const listener: Listener = { address, network, udp, tcp, connections: new Set() };
    udp.on('message', (msg, rinfo) => this.onDatagram(listener, msg, rinfo));
    udp.on('error', (e) => this.options.log(`UDP ${address}: ${e.message}`));
    tcp.on('connection', (conn) => this.onConnection(listener, conn));
    tcp.on('error', (e) => this.options.log(`TCP ${address}: ${e.message}`));
    return listener;
  }

  private async close(listener: Listener): Promise<void> {
    for (const conn of listener.connections) conn.destroy();
    await Promise.all([
      new Promise<void>((resolve) => listener.udp.close(() => resolve())),
      new Promise<void>((resolve) => listener.tcp.close(() => resolve())),
    ]);
  }

  private onDatagram(listener: Listener, query: Buffer, from: RemoteInfo): void {
    if (!this.limiter.take(from.address, Date.now())) return;
    const reply = (answer: Buffer | undefined) => {
      if (answer) listener.udp.send(answer, from.port, from.address, () => undefined);
    };
    const decision = this.decide(listener, from.address, query, 'udp');
    if (decision.kind === 'answer') reply(decision.response);
    else if (decision.kind === 'forward') void this.forwarder.udp(query).then((a) => reply(a ?? serverFailure(query)));
  }

  /**
   * decide() for a client of the listener's network. A throw (a record it cannot read) is
   * SERVFAIL for that query, logged once per message: it never reaches the socket's event handler,
   * where it would end the process that hosts the service.
   */
  private decide(listener: Listener, client: string, query: Buffer, transport: 'udp' | 'tcp'): Decision {
    try {
      const visible = visibleNetworks(this.viewList, listener.network, client);
      return decide(query, visible, { transport, canForward: this.upstreams.length > 0 });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!this.answerErrors.has(message)) {
        this.answerErrors.add(message);
        this.options.log(`answering a query on ${listener.address} (network ${listener.network}) failed: ${message}`);
      }
      const response = serverFailure(query);
      return response ? { kind: 'answer', response } : { kind: 'drop' };
    }
  }

  private onConnection(listener: Listener, conn: Socket): void {
    listener.connections.add(conn);
    conn.setTimeout(TCP_IDLE_MS, () => conn.destroy());
    conn.on('close', () => listener.connections.delete(conn));
    conn.on('error', () => conn.destroy());
    const client = conn.remoteAddress ?? '';
    let pending = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let next = unframe(pending); next; next = unframe(pending)) {
        pending = pending.subarray(next.used);
        this.onStreamQuery(listener, conn, client, Buffer.from(next.message));
      }
      if (pending.length > MAX_TCP_PENDING) conn.destroy();
    });
  }

  private onStreamQuery(listener: Listener, conn: Socket, client: string, query: Buffer): void {
    if (!this.limiter.take(client, Date.now())) return;
    const reply = (answer: Buffer | undefined) => {
      if (answer && !conn.destroyed) conn.write(frame(answer));
    };
    const decision = this.decide(listener, client, query, 'tcp');
    if (decision.kind === 'answer') reply(decision.response);
    else if (decision.kind === 'forward') void this.forwarder.tcp(query).then((a) => reply(a ?? serverFailure(query)));
  }
}
