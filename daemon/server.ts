import { chmodSync, statSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { isSystemError } from '../base/binding.js';
import { asBerthError } from '../base/errors.js';
import { KeyedQueue, orderKey, runCall } from './calls.js';
import { type Library, libraryOrderKey } from './library.js';
import {
  type Answer,
  type Call,
  encodeAnswer,
  encodeGreeting,
  encodeReply,
  FrameError,
  FrameKind,
  FrameReader,
  type LibraryRequest,
} from './protocol.js';

export interface ServerOptions {
  readonly socketPath: string;
  /** Called once per call, when it starts and when it has been answered (or its client is gone). */
  readonly onBusy: (busy: boolean) => void;
  readonly log: (line: string) => void;
  /** Runs one call; the plugin functions by default, something else in tests. */
  readonly run?: (call: Call) => Promise<Answer>;
  /** Runs the library's requests. */
  readonly library: Pick<Library, 'run'>;
}

/**
 * The daemon's socket: one call (or library request) per connection. On accept it greets (the client
 * then knows its call is taken), reads the call, runs it in its container's order (a request: in its
 * object's) and writes the answer. A client that goes away does not stop its call: an ADD half done
 * would be worse than one done that nobody reads.
 */
export class CallServer {
  private readonly server: Server;
  private readonly queue = new KeyedQueue();
  private socketInode: number | undefined;

  constructor(private readonly options: ServerOptions) {
    this.server = createServer({ allowHalfOpen: true }, (socket) => this.serve(socket));
  }

  /** Binds the socket with mode 0600 (a stale one from a killed daemon is replaced). */
  async listen(): Promise<void> {
    const path = this.options.socketPath;
    removeIfThere(path);
    // The socket is made with the umask's mode; none but root may connect even before the chmod.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(path, () => {
          this.server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(path, 0o600);
    this.socketInode = statSync(path).ino;
  }

  /**
   * Stops taking connections: the socket file goes first (new clients find none and run the call
   * themselves), then the listener; calls already taken run to their end. Resolves when they have.
   */
  close(): Promise<void> {
    try {
      // Only the socket this server made: a successor may have bound its own by now.
      if (this.socketInode !== undefined && statSync(this.options.socketPath).ino === this.socketInode) {
        unlinkSync(this.options.socketPath);
      }
    } catch (e) {
      if (!isSystemError(e, 'ENOENT')) this.options.log(`could not remove ${this.options.socketPath}: ${e}`);
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    const reader = new FrameReader();
    let taken = false;
    socket.on('error', () => {
      // A client that went away: its call, if taken, still runs to its end.
    });
    socket.write(encodeGreeting());
    const fail = (message: string) => {
      this.options.log(`refused a connection: ${message}`);
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      if (taken) return fail('bytes after the call');
      let frames: ReturnType<FrameReader['push']>;
      try {
        frames = reader.push(chunk);
      } catch (e) {
        if (reader.lastKind !== FrameKind.Request || !(e instanceof FrameError)) return fail(asBerthError(e).message);
        // A request whose header was good and whose JSON is not: its client reads the error as the
        // call's (code 6), not as a lost connection that may have done it in part.
        taken = true;
        this.options.log(`refused a request: ${e.message}`);
        socket.end(encodeReply({ ok: false, error: { code: e.code, msg: e.msg, details: e.details } }));
        return;
      }
      const [frame] = frames;
      if (!frame) return;
      if (
        (frame.kind !== FrameKind.Call && frame.kind !== FrameKind.Request) ||
        frames.length > 1 ||
        reader.pending > 0
      ) {
        return fail('a connection carries one call or request frame and nothing else');
      }
      taken = true;
      this.options.onBusy(true);
      (frame.kind === FrameKind.Call ? this.answerCall(frame.call) : this.answerRequest(frame.request))
        .then((bytes) => {
          if (!socket.destroyed) socket.end(bytes);
        })
        .catch((e: unknown) => this.options.log(`could not answer: ${asBerthError(e).message}`))
        .finally(() => this.options.onBusy(false));
    });
    socket.on('end', () => {
      if (!taken) {
        try {
          reader.end();
        } catch (e) {
          this.options.log(`a client left mid-call: ${asBerthError(e).message}`);
        }
        socket.destroy();
      }
    });
  }

  private answerCall(call: Call): Promise<Buffer> {
    const run = this.options.run ?? runCall;
    return this.queue
      .run(orderKey(call), () => run(call))
      .catch((e: unknown) => {
        // runSkel answers every failure itself; this is a bug in the daemon, said as the skel would.
        const error = asBerthError(e);
        this.options.log(`call failed outside the plugin: ${error.message}`);
        return {
          code: 1,
          stdout: Buffer.from(`${JSON.stringify(error.toCni('1.1.0'), null, 2)}\n`),
          stderr: Buffer.alloc(0),
        };
      })
      .then(encodeAnswer);
  }

  private async answerRequest(request: LibraryRequest): Promise<Buffer> {
    const reply = await this.queue.run(libraryOrderKey(request), () => this.options.library.run(request));
    try {
      return encodeReply(reply);
    } catch (e) {
      // A result over the cap: said as the request's error.
      const { code, msg, details } = asBerthError(e);
      return encodeReply({ ok: false, error: { code, msg, details } });
    }
  }
}

function removeIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if (!isSystemError(e, 'ENOENT')) throw e;
  }
}
