import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../base/errors.js';
import { type Frame, FrameKind, FrameReader, HEADER_BYTES, MAGIC, PROTOCOL_VERSION } from './protocol.js';
import { CallServer } from './server.js';

const temp = mkdtempSync(join(tmpdir(), 'berth-server-test-'));
const socketPath = join(temp, 'daemon.sock');
const runs: unknown[] = [];
const server = new CallServer({
  socketPath,
  onBusy: () => {},
  log: () => {},
  library: {
    run: async (request) => {
      runs.push(request);
      return { ok: true };
    },
  },
});
beforeAll(() => server.listen());
afterAll(async () => {
  await server.close();
  rmSync(temp, { recursive: true, force: true });
});

function requestFrame(json: string): Buffer {
  const payload = Buffer.from(json);
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeUInt8(PROTOCOL_VERSION, 4);
  h.writeUInt8(FrameKind.Request, 5);
  h.writeUInt32BE(payload.length, 8);
  return Buffer.concat([h, payload]);
}

/** The frames the server sends for these bytes, until it ends the connection. */
function exchange(bytes: Buffer): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader();
    const frames: Frame[] = [];
    const socket = connect(socketPath, () => socket.write(bytes));
    socket.on('data', (chunk) => frames.push(...reader.push(chunk)));
    socket.on('error', reject);
    socket.on('close', () => resolve(frames));
  });
}

describe('CallServer', () => {
  it('answers a request whose header is good and whose JSON is not with a code 6 reply, and runs nothing', async () => {
    for (const json of ['{"method":', '{"method":"networks","params":{},"controller":{"stateDir":7}}']) {
      const frames = await exchange(requestFrame(json));
      expect(frames.map((f) => f.kind)).toEqual([FrameKind.Greeting, FrameKind.Reply]);
      expect(frames[1]).toMatchObject({
        reply: {
          ok: false,
          error: { code: ErrorCode.DecodeFailure, msg: expect.stringMatching(/^berth daemon protocol: /) },
        },
      });
    }
    expect(runs).toEqual([]);
  });

  it('ends a connection whose header is bad with no reply', async () => {
    const frames = await exchange(Buffer.from('NOPE'.repeat(4)));
    expect(frames.map((f) => f.kind)).toEqual([FrameKind.Greeting]);
  });

  it('runs a good request and answers with its reply', async () => {
    const frames = await exchange(requestFrame('{"method":"networks","params":{},"controller":{}}'));
    expect(frames[1]).toEqual({ kind: FrameKind.Reply, reply: { ok: true } });
    expect(runs).toHaveLength(1);
  });
});
