import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../base/errors.js';
import {
  decodeFrame,
  encodeAnswer,
  encodeCall,
  encodeGreeting,
  encodeReply,
  encodeRequest,
  FrameError,
  FrameKind,
  FrameReader,
  HEADER_BYTES,
  LIMITS,
  readHeader,
} from './protocol.js';

const call = {
  plugin: 'berth-bridge',
  env: ['CNI_COMMAND=ADD', 'CNI_CONTAINERID=c1', 'EMPTY=', 'UTF8=héllo'],
  stdin: Buffer.from('{"cniVersion":"1.1.0"}'),
};

/** What decoding a frame throws, as its message; '' when it decodes. */
function failureOf(data: Buffer): string {
  try {
    decodeFrame(data);
    return '';
  } catch (e) {
    expect(e).toBeInstanceOf(FrameError);
    expect((e as FrameError).code).toBe(ErrorCode.DecodeFailure);
    return (e as FrameError).message;
  }
}

describe('frames', () => {
  it('lays a call out byte for byte as the C client writes it', () => {
    const frame = encodeCall({ plugin: 'ab', env: ['K=V'], stdin: Buffer.from('{}') });
    expect(frame.toString('hex')).toBe(
      [
        '42525448', // BRTH
        '01', // version
        '01', // call
        '0000',
        '00000017', // payload: 4+2 + 4 + 4+3 + 4+2 = 23
        '00000002',
        '6162', // "ab"
        '00000001', // one variable
        '00000003',
        '4b3d56', // "K=V"
        '00000002',
        '7b7d', // "{}"
      ].join(''),
    );
  });

  it('decodes what it encodes: a call, an answer, a greeting', () => {
    expect(decodeFrame(encodeCall(call))).toEqual({ kind: FrameKind.Call, call });
    const answer = { code: 1, stdout: Buffer.from('{"code":7}\n'), stderr: Buffer.from('') };
    expect(decodeFrame(encodeAnswer(answer))).toEqual({ kind: FrameKind.Answer, answer });
    expect(decodeFrame(encodeGreeting())).toEqual({ kind: FrameKind.Greeting });
    expect(encodeGreeting()).toHaveLength(HEADER_BYTES);
  });

  it('carries a config over 1 MB', () => {
    const stdin = Buffer.alloc(3 << 20, 'x');
    const decoded = decodeFrame(encodeCall({ ...call, stdin }));
    expect(decoded.kind === FrameKind.Call && decoded.call.stdin.equals(stdin)).toBe(true);
  });

  it('refuses a bad magic, version, kind or reserved byte, in one error naming it', () => {
    const good = encodeCall(call);
    const with_ = (at: number, byte: number) => {
      const b = Buffer.from(good);
      b[at] = byte;
      return b;
    };
    expect(failureOf(with_(0, 0x48))).toMatch(/bad magic "HRTH", not "BRTH"/);
    expect(failureOf(with_(4, 2))).toMatch(/version 2, not 1/);
    expect(failureOf(with_(5, 9))).toMatch(/unknown frame kind 9/);
    expect(failureOf(with_(6, 1))).toMatch(/reserved header bytes/);
    expect(failureOf(Buffer.from('BRT'))).toMatch(/a header of 3 bytes/);
  });

  it('refuses a truncated frame at every cut, and bytes after one', () => {
    const good = encodeCall(call);
    for (let cut = HEADER_BYTES; cut < good.length; cut++) {
      expect(failureOf(good.subarray(0, cut))).toMatch(/truncated frame/);
    }
    expect(failureOf(Buffer.concat([good, Buffer.from([0])]))).toMatch(/1 bytes after the frame/);
  });

  it('refuses a field that runs past its payload, or a payload with bytes after its fields', () => {
    const frame = encodeCall({ plugin: 'ab', env: [], stdin: Buffer.from('{}') });
    const longer = Buffer.from(frame);
    longer.writeUInt32BE(40, HEADER_BYTES); // the name says 40 bytes
    expect(failureOf(longer)).toMatch(/truncated frame: the plugin name says 40 bytes, 12 are left/);
    const padded = Buffer.concat([frame, Buffer.from([1, 2])]);
    padded.writeUInt32BE(padded.length - HEADER_BYTES, 8);
    expect(failureOf(padded)).toMatch(/2 bytes after the last field/);
  });

  it('refuses oversize frames and fields on both sides', () => {
    const header = Buffer.from(encodeGreeting());
    header[5] = FrameKind.Call;
    header.writeUInt32BE(LIMITS.payload + 1, 8);
    expect(() => readHeader(header)).toThrow(/payload of \d+ bytes is over the cap/);
    expect(() => encodeCall({ ...call, stdin: Buffer.alloc(LIMITS.stdin + 1) })).toThrow(/stdin .* over the cap/);
    expect(() => encodeCall({ ...call, plugin: 'x'.repeat(65) })).toThrow(/plugin name .* over 64 bytes/);
    expect(() => encodeCall({ ...call, env: Array(LIMITS.envEntries + 1).fill('A=') })).toThrow(/4097 environment/);
    expect(() => encodeCall({ ...call, env: [`A=${'x'.repeat(LIMITS.envBytes)}`] })).toThrow(/environment of .* over/);
    const small = encodeCall({ plugin: 'ab', env: [], stdin: Buffer.from('{}') });
    small.writeUInt32BE(LIMITS.envEntries + 1, HEADER_BYTES + 6);
    expect(failureOf(small)).toMatch(/4097 environment variables are over the cap/);
  });
});

describe('library requests and replies', () => {
  const request = {
    method: 'createNetwork',
    params: { options: { name: 'web', subnet: '10.89.0.0/24' } },
    controller: { stateDir: '/var/lib/berth', hostNetnsPath: '/run/netns/h1' },
  };
  /** A frame of a kind with this payload, as another build might send it. */
  const raw = (kind: number, payload: string) => {
    const frame = encodeGreeting();
    frame[5] = kind;
    frame.writeUInt32BE(Buffer.byteLength(payload), 8);
    return Buffer.concat([frame, Buffer.from(payload)]);
  };

  it('carries a request and its reply as JSON after the header: a result, none, or an error', () => {
    const frame = encodeRequest(request);
    expect(frame.subarray(0, 8).toString('hex')).toBe('4252544801040000');
    expect(JSON.parse(frame.subarray(HEADER_BYTES).toString())).toEqual(request);
    expect(decodeFrame(frame)).toEqual({ kind: FrameKind.Request, request });
    for (const reply of [
      { ok: true, result: [{ name: 'web' }] },
      { ok: true },
      { ok: false, error: { code: 3, msg: 'no network named "x"', details: 'see `berth network ls`' } },
    ] as const) {
      expect(decodeFrame(encodeReply(reply))).toEqual({ kind: FrameKind.Reply, reply });
    }
  });

  it('refuses a request or reply that is not JSON or not of its shape, as a decode failure', () => {
    expect(failureOf(raw(FrameKind.Request, '{"method":'))).toMatch(/a request is not JSON/);
    expect(failureOf(raw(FrameKind.Request, '{"method":1,"params":{},"controller":{}}'))).toMatch(
      /a request is an object with a method/,
    );
    expect(failureOf(raw(FrameKind.Request, '{"method":"networks","params":[],"controller":{}}'))).toMatch(
      /a request is an object with a method/,
    );
    expect(failureOf(raw(FrameKind.Request, '{"method":"networks","params":{},"controller":{"stateDir":1}}'))).toMatch(
      /the controller option stateDir of a request is not a string/,
    );
    expect(failureOf(raw(FrameKind.Reply, '{"ok":false,"error":{"code":"7","msg":"m","details":""}}'))).toMatch(
      /a reply is/,
    );
    expect(failureOf(raw(FrameKind.Reply, '[]'))).toMatch(/a reply is/);
  });

  it('refuses a reply over its cap when encoding it', () => {
    expect(() => encodeReply({ ok: true, result: 'x'.repeat(LIMITS.json) })).toThrow(
      /a reply of \d+ bytes is over the cap/,
    );
  });
});

describe('FrameReader', () => {
  it('cuts a stream that comes a byte at a time into its frames', () => {
    const stream = Buffer.concat([encodeGreeting(), encodeCall(call)]);
    const reader = new FrameReader();
    const frames = [];
    for (const byte of stream) frames.push(...reader.push(Buffer.from([byte])));
    expect(frames).toEqual([{ kind: FrameKind.Greeting }, { kind: FrameKind.Call, call }]);
    expect(reader.pending).toBe(0);
    expect(() => reader.end()).not.toThrow();
  });

  it('fails on a bad header as soon as it is in, before the payload it announces', () => {
    const reader = new FrameReader();
    const header = Buffer.from(encodeGreeting());
    header.writeUInt32BE(0xffffffff, 8);
    header[5] = FrameKind.Call;
    expect(() => reader.push(header)).toThrow(/over the cap/);
  });

  it('says a stream ended mid-frame', () => {
    const reader = new FrameReader();
    reader.push(encodeCall(call).subarray(0, 20));
    expect(() => reader.end()).toThrow(/truncated frame: the stream ended after 20 of \d+ bytes/);
    const early = new FrameReader();
    early.push(Buffer.from('BRTH'));
    expect(() => early.end()).toThrow(/ended after 4 bytes of a header/);
  });
});
