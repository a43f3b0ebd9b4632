/**
 * The wire between the thin CNI client (netlink/src/cni-client.c) and the daemon: length-prefixed
 * frames that C writes with a few shifts. Every frame is a 12-byte header and a payload:
 *
 *   header   "BRTH"  version u8 (1)  kind u8  0 0  payload length u32
 *   call     (kind 1, client -> daemon)  plugin name, env count u32, each KEY=VALUE, stdin
 *   greeting (kind 3, daemon -> client)  empty: the daemon has the connection and will read the call
 *   answer   (kind 2, daemon -> client)  exit code u32, stdout, stderr
 *   request  (kind 4, client -> daemon)  a library call as JSON: method, params, the Controller's options
 *   reply    (kind 5, daemon -> client)  its result as JSON, or the BerthError it threw (code, msg, details)
 *
 * Integers are unsigned big-endian; a string or byte field is its length (u32) and its bytes. The
 * greeting tells the client whether the daemon took the connection at all: a connection closed
 * before it was never served (the client runs the call itself), one closed after it may have been.
 * Requests and replies come from the library's client (daemon/client.ts); the C client never sends
 * or reads them, and a connection carries one call or one request.
 */
import { BerthError, ErrorCode } from '../base/errors.js';

export const MAGIC = Buffer.from('BRTH', 'latin1');
export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 12;

/**
 * The Controller options of a library request that are paths. The daemon runs with cwd '/', so the
 * client makes them absolute and the daemon refuses a relative one.
 */
export const CONTROLLER_PATH_OPTIONS: readonly string[] = ['stateDir', 'netnsDir', 'etcNetnsDir', 'hostNetnsPath'];

export const FrameKind = { Call: 1, Answer: 2, Greeting: 3, Request: 4, Reply: 5 } as const;
export type FrameKindValue = (typeof FrameKind)[keyof typeof FrameKind];

/** Caps that keep a bad peer from making the other side buffer without end (the C client has the same). */
export const LIMITS = {
  pluginName: 64,
  envEntries: 4096,
  /** All KEY=VALUE strings together. */
  envBytes: 1 << 20,
  stdin: 16 << 20,
  /** stdout and stderr of an answer, each. */
  output: 16 << 20,
  /** The JSON of a request or a reply. */
  json: 16 << 20,
  payload: 34 << 20,
} as const;

export interface Call {
  readonly plugin: string;
  /** KEY=VALUE strings, as the process environment of the client holds them. */
  readonly env: readonly string[];
  readonly stdin: Buffer;
}

export interface Answer {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/** A library call: a method of the daemon's dispatcher (daemon/library.ts) on the Controller its options open. */
export interface LibraryRequest {
  readonly method: string;
  readonly params: Readonly<Record<string, unknown>>;
  /** ControllerOptions: which state dir, host netns and folders; each a string. */
  readonly controller: Readonly<Record<string, string>>;
}

/** A library call's outcome: its result as plain JSON, or the BerthError it threw, to be thrown again. */
export type LibraryReply =
  | { readonly ok: true; readonly result?: unknown }
  | { readonly ok: false; readonly error: { readonly code: number; readonly msg: string; readonly details: string } };

export type Frame =
  | { readonly kind: typeof FrameKind.Call; readonly call: Call }
  | { readonly kind: typeof FrameKind.Answer; readonly answer: Answer }
  | { readonly kind: typeof FrameKind.Greeting }
  | { readonly kind: typeof FrameKind.Request; readonly request: LibraryRequest }
  | { readonly kind: typeof FrameKind.Reply; readonly reply: LibraryReply };

/** A frame that cannot be read: the one error of this module, code 6 (decode failure). */
export class FrameError extends BerthError {
  constructor(msg: string) {
    super(ErrorCode.DecodeFailure, `berth daemon protocol: ${msg}`, 'the client and the daemon come from one build');
  }
}

function header(kind: FrameKindValue, payloadLength: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeUInt8(PROTOCOL_VERSION, 4);
  h.writeUInt8(kind, 5);
  h.writeUInt32BE(payloadLength, 8);
  return h;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

const field = (data: Buffer): Buffer[] => [u32(data.length), data];

function frame(kind: FrameKindValue, parts: readonly Buffer[]): Buffer {
  const length = parts.reduce((n, p) => n + p.length, 0);
  if (length > LIMITS.payload)
    throw new FrameError(`a payload of ${length} bytes is over the cap of ${LIMITS.payload}`);
  return Buffer.concat([header(kind, length), ...parts]);
}

export function encodeCall(call: Call): Buffer {
  checkCall(call.plugin, call.env, call.stdin.length);
  return frame(FrameKind.Call, [
    ...field(Buffer.from(call.plugin)),
    u32(call.env.length),
    ...call.env.flatMap((e) => field(Buffer.from(e))),
    ...field(call.stdin),
  ]);
}

export function encodeAnswer(answer: Answer): Buffer {
  checkOutput('stdout', answer.stdout.length);
  checkOutput('stderr', answer.stderr.length);
  return frame(FrameKind.Answer, [u32(answer.code), ...field(answer.stdout), ...field(answer.stderr)]);
}

export function encodeRequest(request: LibraryRequest): Buffer {
  return frame(FrameKind.Request, [jsonBytes('a request', request)]);
}

export function encodeReply(reply: LibraryReply): Buffer {
  return frame(FrameKind.Reply, [jsonBytes('a reply', reply)]);
}

function jsonBytes(what: string, value: unknown): Buffer {
  const data = Buffer.from(JSON.stringify(value));
  if (data.length > LIMITS.json)
    throw new FrameError(`${what} of ${data.length} bytes is over the cap of ${LIMITS.json}`);
  return data;
}

export function encodeGreeting(): Buffer {
  return header(FrameKind.Greeting, 0);
}

function checkCall(plugin: string, env: readonly string[], stdinLength: number): void {
  if (Buffer.byteLength(plugin) > LIMITS.pluginName) {
    throw new FrameError(`the plugin name ${JSON.stringify(plugin.slice(0, 80))} is over ${LIMITS.pluginName} bytes`);
  }
  if (env.length > LIMITS.envEntries) {
    throw new FrameError(`${env.length} environment variables are over the cap of ${LIMITS.envEntries}`);
  }
  const envBytes = env.reduce((n, e) => n + Buffer.byteLength(e), 0);
  if (envBytes > LIMITS.envBytes) {
    throw new FrameError(`an environment of ${envBytes} bytes is over the cap of ${LIMITS.envBytes}`);
  }
  if (stdinLength > LIMITS.stdin) {
    throw new FrameError(`a config of ${stdinLength} bytes on stdin is over the cap of ${LIMITS.stdin}`);
  }
}

function checkOutput(name: string, length: number): void {
  if (length > LIMITS.output) throw new FrameError(`${name} of ${length} bytes is over the cap of ${LIMITS.output}`);
}

/** The kind and payload length a header announces; throws on a bad magic, version, kind or length. */
export function readHeader(h: Buffer): { kind: FrameKindValue; length: number } {
  if (h.length < HEADER_BYTES) throw new FrameError(`a header of ${h.length} bytes, not ${HEADER_BYTES}`);
  if (!h.subarray(0, 4).equals(MAGIC)) {
    throw new FrameError(`bad magic ${JSON.stringify(h.subarray(0, 4).toString('latin1'))}, not "BRTH"`);
  }
  const version = h.readUInt8(4);
  if (version !== PROTOCOL_VERSION) throw new FrameError(`version ${version}, not ${PROTOCOL_VERSION}`);
  const kind = h.readUInt8(5);
  if (!Object.values<number>(FrameKind).includes(kind)) throw new FrameError(`unknown frame kind ${kind}`);
  if (h.readUInt16BE(6) !== 0) throw new FrameError('reserved header bytes are not zero');
  const length = h.readUInt32BE(8);
  if (length > LIMITS.payload)
    throw new FrameError(`a payload of ${length} bytes is over the cap of ${LIMITS.payload}`);
  if (kind === FrameKind.Greeting && length !== 0) throw new FrameError(`a greeting with ${length} bytes of payload`);
  return { kind: kind as FrameKindValue, length };
}

/** Reads the fields of one payload in order; any read past its end is a truncated frame. */
class PayloadReader {
  private at = 0;
  constructor(private readonly data: Buffer) {}

  u32(what: string): number {
    if (this.at + 4 > this.data.length) throw new FrameError(`truncated frame: ${what} is cut off`);
    const n = this.data.readUInt32BE(this.at);
    this.at += 4;
    return n;
  }

  bytes(what: string, cap: number): Buffer {
    const n = this.u32(`the length of ${what}`);
    if (n > cap) throw new FrameError(`${what} of ${n} bytes is over the cap of ${cap}`);
    if (this.at + n > this.data.length) {
      throw new FrameError(`truncated frame: ${what} says ${n} bytes, ${this.data.length - this.at} are left`);
    }
    const b = this.data.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }

  end(): void {
    if (this.at !== this.data.length) {
      throw new FrameError(`${this.data.length - this.at} bytes after the last field of the frame`);
    }
  }
}

/** One whole frame (header and payload) as its value; throws one FrameError for anything malformed. */
export function decodeFrame(data: Buffer): Frame {
  const { kind, length } = readHeader(data);
  if (data.length !== HEADER_BYTES + length) {
    throw new FrameError(
      data.length < HEADER_BYTES + length
        ? `truncated frame: the header says ${length} bytes of payload, ${data.length - HEADER_BYTES} came`
        : `${data.length - HEADER_BYTES - length} bytes after the frame`,
    );
  }
  const r = new PayloadReader(data.subarray(HEADER_BYTES));
  switch (kind) {
    case FrameKind.Greeting:
      return { kind };
    case FrameKind.Call: {
      const plugin = r.bytes('the plugin name', LIMITS.pluginName).toString('utf8');
      const count = r.u32('the environment count');
      if (count > LIMITS.envEntries) {
        throw new FrameError(`${count} environment variables are over the cap of ${LIMITS.envEntries}`);
      }
      const env: string[] = [];
      let envBytes = 0;
      for (let i = 0; i < count; i++) {
        const e = r.bytes(`environment variable ${i}`, LIMITS.envBytes);
        envBytes += e.length;
        if (envBytes > LIMITS.envBytes) {
          throw new FrameError(`an environment of over ${LIMITS.envBytes} bytes is over the cap`);
        }
        env.push(e.toString('utf8'));
      }
      const stdin = r.bytes('stdin', LIMITS.stdin);
      r.end();
      return { kind, call: { plugin, env, stdin } };
    }
    case FrameKind.Answer: {
      const code = r.u32('the exit code');
      const stdout = r.bytes('stdout', LIMITS.output);
      const stderr = r.bytes('stderr', LIMITS.output);
      r.end();
      return { kind, answer: { code, stdout, stderr } };
    }
    case FrameKind.Request:
      return { kind, request: requestOf(parseJson('a request', data.subarray(HEADER_BYTES))) };
    case FrameKind.Reply:
      return { kind, reply: replyOf(parseJson('a reply', data.subarray(HEADER_BYTES))) };
  }
}

function parseJson(what: string, data: Buffer): unknown {
  if (data.length > LIMITS.json)
    throw new FrameError(`${what} of ${data.length} bytes is over the cap of ${LIMITS.json}`);
  try {
    return JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw new FrameError(`${what} is not JSON: ${(e as Error).message}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function requestOf(v: unknown): LibraryRequest {
  if (!isObject(v) || typeof v.method !== 'string' || !isObject(v.params) || !isObject(v.controller)) {
    throw new FrameError('a request is an object with a method (a string), params and controller (objects)');
  }
  for (const [key, value] of Object.entries(v.controller)) {
    if (typeof value !== 'string') throw new FrameError(`the controller option ${key} of a request is not a string`);
  }
  return { method: v.method, params: v.params, controller: v.controller as Record<string, string> };
}

function replyOf(v: unknown): LibraryReply {
  if (isObject(v) && v.ok === true) return 'result' in v ? { ok: true, result: v.result } : { ok: true };
  const error = isObject(v) && v.ok === false && isObject(v.error) ? v.error : undefined;
  if (!error || typeof error.code !== 'number' || typeof error.msg !== 'string' || typeof error.details !== 'string') {
    throw new FrameError('a reply is {"ok":true,"result":...} or {"ok":false,"error":{"code","msg","details"}}');
  }
  return { ok: false, error: { code: error.code, msg: error.msg, details: error.details } };
}

/**
 * Cuts a byte stream into frames: push() what arrived and get the frames it completed. A bad header
 * fails as soon as its 12 bytes are in, before the payload it announces is buffered.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private expected: number | undefined;
  private kind: FrameKindValue | undefined;

  /** The kind of the last frame whose header was read, even if its payload then failed to decode. */
  get lastKind(): FrameKindValue | undefined {
    return this.kind;
  }

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.expected === undefined) {
        if (this.buffered < HEADER_BYTES) break;
        const h = readHeader(this.take(HEADER_BYTES, false));
        this.kind = h.kind;
        this.expected = HEADER_BYTES + h.length;
      }
      if (this.buffered < this.expected) break;
      const data = this.take(this.expected, true);
      this.expected = undefined;
      frames.push(decodeFrame(data));
    }
    return frames;
  }

  /** Bytes that came and are not yet part of a whole frame. */
  get pending(): number {
    return this.buffered;
  }

  /** The end of the stream: throws when it cut a frame short. */
  end(): void {
    if (this.buffered > 0) {
      throw new FrameError(
        this.expected === undefined
          ? `truncated frame: the stream ended after ${this.buffered} bytes of a header`
          : `truncated frame: the stream ended after ${this.buffered} of ${this.expected} bytes`,
      );
    }
  }

  private take(n: number, consume: boolean): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [all];
    if (!consume) return all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return all.subarray(0, n);
  }
}
