import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ButterError, errorFromRemote, ProtocolError } from '../src/errors.js';
import { createNode } from '../src/node/create.js';
import { createIdentity, type Identity } from '../src/node/identity.js';
import type { ButterNode } from '../src/node/node.js';
import { createRealRuntime } from '../src/runtime/real.js';
import type { Address } from '../src/runtime/types.js';
import { encodeValue } from '../src/transport/codec.js';
import {
  decodeEnvelope,
  decodeEnvelopeBySchema,
  encodeEnvelope,
  encodeEnvelopeFrame,
  FrameKind,
  maxHelloFrameBytes,
  protocolVersion,
  type Envelope,
} from '../src/transport/envelope.js';
import { encodeFrame, FrameDecoder, frameHeaderBytes } from '../src/transport/frames.js';
import { connectTls, tlsCredentials } from './support/channel.js';
import { bytes, text, within } from './support/world.js';

/**
 * Every inbound byte is untrusted. The decoders, fed random, truncated and
 * oversized input, only ever throw ProtocolError and never hold more than one
 * frame; a live node fed the same over real TCP keeps answering valid requests.
 */

const maxFrameBytes = 1024;

/** Pushes every chunk; returns the bodies, or the error that stopped the decoder. */
function feed(decoder: FrameDecoder, chunks: Uint8Array[]): { bodies: Uint8Array[]; error?: unknown } {
  const bodies: Uint8Array[] = [];
  for (const chunk of chunks) {
    try {
      bodies.push(...decoder.push(chunk));
    } catch (error) {
      return { bodies, error };
    }
    assert.ok(decoder.pendingBytes() <= maxFrameBytes, `decoder holds ${decoder.pendingBytes()} bytes`);
  }
  return { bodies };
}

/** Splits `data` at the given cut points (any numbers; taken modulo the length). */
function chunked(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => (data.length === 0 ? 0 : cut % (data.length + 1))))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, data.length]) {
    chunks.push(data.subarray(start, point));
    start = point;
  }
  return chunks;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

function lengthPrefix(length: number): Uint8Array {
  const header = new Uint8Array(frameHeaderBytes);
  new DataView(header.buffer).setUint32(0, length);
  return header;
}

const bodyArbitrary = fc.uint8Array({ minLength: 1, maxLength: maxFrameBytes });
const cutsArbitrary = fc.array(fc.nat(), { maxLength: 12 });

describe('FrameDecoder under random input', () => {
  it('reassembles any chunking of valid frames exactly', () => {
    fc.assert(
      fc.property(fc.array(bodyArbitrary, { maxLength: 8 }), cutsArbitrary, (bodies, cuts) => {
        const decoder = new FrameDecoder(maxFrameBytes);
        const result = feed(decoder, chunked(concat(bodies.map(encodeFrame)), cuts));
        assert.equal(result.error, undefined);
        assert.deepEqual(result.bodies.map((body) => Buffer.from(body)), bodies.map((body) => Buffer.from(body)));
        assert.equal(decoder.pendingBytes(), 0);
      }),
      { numRuns: 300 },
    );
  });

  it('holds a truncated frame without error and within the bound', () => {
    fc.assert(
      fc.property(fc.array(bodyArbitrary, { minLength: 1, maxLength: 4 }), fc.nat(), cutsArbitrary, (bodies, cut, cuts) => {
        const stream = concat(bodies.map(encodeFrame));
        const truncated = stream.subarray(0, cut % stream.length);
        const decoder = new FrameDecoder(maxFrameBytes);
        const result = feed(decoder, chunked(truncated, cuts));
        assert.equal(result.error, undefined);
        // Exactly the frames that fit whole come out, in order.
        let complete = 0;
        let used = 0;
        for (const body of bodies) {
          if (used + frameHeaderBytes + body.length > truncated.length) break;
          used += frameHeaderBytes + body.length;
          complete += 1;
        }
        assert.equal(result.bodies.length, complete);
        assert.ok(decoder.pendingBytes() < truncated.length - used + 1);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses zero and oversized lengths as soon as the header arrives', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(0), fc.integer({ min: maxFrameBytes + 1, max: 0xffffffff })),
        fc.array(bodyArbitrary, { maxLength: 2 }),
        cutsArbitrary,
        (length, before, cuts) => {
          const decoder = new FrameDecoder(maxFrameBytes);
          const result = feed(decoder, chunked(concat([...before.map(encodeFrame), lengthPrefix(length)]), cuts));
          assert.ok(result.error instanceof ProtocolError, String(result.error));
          assert.equal(result.bodies.length <= before.length, true);
          // A failed decoder stays failed: the stream is out of step.
          assert.throws(() => decoder.push(encodeFrame(new Uint8Array([1]))), ProtocolError);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('bounds the first frame (the handshake) more tightly than the rest', () => {
    const maxFirstFrameBytes = 64;
    fc.assert(
      fc.property(fc.integer({ min: maxFirstFrameBytes + 1, max: maxFrameBytes - 2 * maxFirstFrameBytes }), cutsArbitrary, (length, cuts) => {
        const refusing = new FrameDecoder(maxFrameBytes, maxFirstFrameBytes);
        const result = feed(refusing, chunked(concat([lengthPrefix(length), new Uint8Array(8)]), cuts));
        assert.ok(result.error instanceof ProtocolError, String(result.error));
        const accepting = new FrameDecoder(maxFrameBytes, maxFirstFrameBytes);
        const frames = concat([encodeFrame(new Uint8Array(maxFirstFrameBytes)), encodeFrame(new Uint8Array(length))]);
        assert.deepEqual(feed(accepting, chunked(frames, cuts)).bodies.map((body) => body.length), [maxFirstFrameBytes, length]);
      }),
      { numRuns: 100 },
    );
  });

  it('throws nothing but ProtocolError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), cutsArbitrary, (data, cuts) => {
        const result = feed(new FrameDecoder(maxFrameBytes), chunked(data, cuts));
        assert.ok(result.error === undefined || result.error instanceof ProtocolError, String(result.error));
      }),
      { numRuns: 500 },
    );
  });
});

/** Values that trip naive code: objects that cannot become strings, prototype keys, odd numbers. */
const awkwardValue = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.constantFrom<unknown>(
    { toString: 1 },
    { valueOf: 'x', toString: null },
    { __proto__: null },
    -0,
    Number.NaN,
    2 ** 53,
    -1,
    0xffffffff + 1,
    'x'.repeat(5000),
    new Uint8Array(40),
  ),
);

const nodeIdArbitrary = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((raw) => Buffer.from(raw).toString('hex'));
const routeArbitrary = fc.stringMatching(/^[A-Za-z0-9._/:-]{1,64}$/);
const requestIdArbitrary = fc.integer({ min: 1, max: 0xffffffff });
const payloadArbitrary = fc.uint8Array({ maxLength: 256 });

const envelopeArbitrary: fc.Arbitrary<Envelope> = fc.oneof(
  fc.record({
    kind: fc.constant('hello' as const),
    nodeId: nodeIdArbitrary,
    publicKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    networkId: fc.string({ minLength: 1, maxLength: 64 }),
    listenAddresses: fc.array(
      fc.record({ transport: fc.constant('tcp' as const), host: fc.string({ minLength: 1, maxLength: 255 }), port: fc.integer({ min: 0, max: 65535 }) }, { noNullPrototype: true }),
      { maxLength: 8 },
    ),
    observed: fc.option(fc.record({ transport: fc.constant('tcp' as const), host: fc.string({ minLength: 1, maxLength: 255 }), port: fc.integer({ min: 0, max: 65535 }) }, { noNullPrototype: true }), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('request' as const), requestId: requestIdArbitrary, route: routeArbitrary, payload: payloadArbitrary }),
  fc.record({ kind: fc.constant('response' as const), requestId: requestIdArbitrary, payload: payloadArbitrary }),
  fc.record({
    kind: fc.constant('error' as const),
    requestId: fc.integer({ min: 0, max: 0xffffffff }),
    code: fc.string({ minLength: 1, maxLength: 32 }),
    message: fc.string({ maxLength: 1024 }),
  }),
  fc.record({ kind: fc.constant('notify' as const), route: routeArbitrary, payload: payloadArbitrary }),
);

/** An envelope-shaped array with any mix of valid and invalid fields. */
const brokenEnvelopeArbitrary = fc.tuple(
  fc.oneof(fc.constant(protocolVersion), awkwardValue),
  fc.oneof(fc.integer({ min: -1, max: 6 }), awkwardValue),
  fc.array(fc.oneof(awkwardValue, requestIdArbitrary, routeArbitrary, payloadArbitrary), { maxLength: 6 }),
);

function decodesOrRefuses(body: Uint8Array): Envelope | undefined {
  try {
    return decodeEnvelope(body);
  } catch (error) {
    assert.ok(error instanceof ProtocolError, `decodeEnvelope threw ${String(error)}`);
    return undefined;
  }
}

describe('envelope decoding under random input', () => {
  it('round-trips every valid envelope', () => {
    fc.assert(
      fc.property(envelopeArbitrary, (message) => {
        const decoded = decodeEnvelope(encodeEnvelope(message)) as unknown as Record<string, unknown>;
        const normalised = Object.fromEntries(Object.entries(decoded).map(([key, value]) => [key, value instanceof Uint8Array ? new Uint8Array(value) : value]));
        assert.deepEqual(normalised, { ...message });
      }),
      { numRuns: 300 },
    );
  });

  it('writes every frame as msgpackr writes its envelope, at every size boundary of its fields', () => {
    // 0x7f..0x10000: where a uint, a str and a bin move to their next wider form.
    const boundary = (limits: number[]) => fc.constantFrom(...limits.flatMap((limit) => [limit - 1, limit, limit + 1]));
    const sizedPayload = fc.oneof(payloadArbitrary, boundary([0x100, 0x10000]).map((length) => new Uint8Array(length).fill(7)));
    const anyRoute = fc.oneof(routeArbitrary, fc.string({ minLength: 1, maxLength: 300, unit: 'binary' }), boundary([32, 0x100]).map((length) => 'r'.repeat(length)));
    const anyRequestId = fc.oneof(requestIdArbitrary, boundary([0x80, 0x100, 0x10000]), fc.constant(0xffffffff));
    const sizedEnvelope: fc.Arbitrary<Envelope> = fc.oneof(
      envelopeArbitrary,
      fc.record({ kind: fc.constant('request' as const), requestId: anyRequestId, route: anyRoute, payload: sizedPayload }),
      fc.record({ kind: fc.constant('response' as const), requestId: anyRequestId, payload: sizedPayload }),
      fc.record({ kind: fc.constant('notify' as const), route: anyRoute, payload: sizedPayload }),
    );
    fc.assert(
      fc.property(sizedEnvelope, (message) => {
        assert.deepEqual(Buffer.from(encodeEnvelopeFrame(message)), Buffer.from(encodeFrame(encodeEnvelope(message))));
      }),
      { numRuns: 1000 },
    );
  });

  it('reads requests, responses and notifications straight from their bytes exactly as the schema path does, whatever the bytes', () => {
    const outcome = (decode: (body: Uint8Array) => Envelope, body: Uint8Array): unknown => {
      try {
        const decoded = decode(body) as unknown as Record<string, unknown>;
        return Object.fromEntries(Object.entries(decoded).map(([key, value]) => [key, value instanceof Uint8Array ? Buffer.from(value) : value]));
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `decodeEnvelope threw ${String(error)}`);
        return 'refused';
      }
    };
    const mutated = fc.tuple(envelopeArbitrary, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat()).map(([message, flips, cut]) => {
      const body = Uint8Array.from(encodeEnvelope(message));
      for (const [at, value] of flips) body[at % body.length] = value;
      return cut % 4 === 0 ? body.subarray(0, cut % (body.length + 1)) : body;
    });
    const bodies = fc.oneof(mutated, fc.uint8Array({ maxLength: 64 }), brokenEnvelopeArbitrary.map(([version, kind, rest]) => encodeValue([version, kind, ...rest])));
    fc.assert(
      fc.property(bodies, (body) => {
        assert.deepEqual(outcome(decodeEnvelope, body), outcome(decodeEnvelopeBySchema, body));
      }),
      { numRuns: 3000 },
    );
  });

  it('throws nothing but ProtocolError on random bytes and malformed envelopes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (body) => {
        decodesOrRefuses(body);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(brokenEnvelopeArbitrary, ([version, kind, rest]) => {
        decodesOrRefuses(encodeValue([version, kind, ...rest]));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(envelopeArbitrary, fc.nat(), (message, cut) => {
        const body = encodeEnvelope(message);
        decodesOrRefuses(body.subarray(0, cut % body.length));
      }),
      { numRuns: 300 },
    );
  });

  it('turns any remote error code into a ButterError', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ minLength: 1, maxLength: 32 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf')),
        fc.string({ maxLength: 64 }),
        (code, message) => {
          const error = errorFromRemote(code, message);
          assert.ok(error instanceof ButterError, `code ${JSON.stringify(code)} gave ${String(error)}`);
        },
      ),
      { numRuns: 300 },
    );
  });
});

/** A raw peer speaking (or failing to speak) the wire protocol over TLS with its own key, as an attacker would. */
class RawPeer {
  readonly received: Envelope[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder(16 * 1024 * 1024);
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: tls.TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const body of this.decoder.push(chunk)) this.received.push(decodeEnvelope(body));
      } catch (error) {
        this.received.push({ kind: 'error', requestId: 0, code: 'UNREADABLE', message: String(error) });
      }
      this.wake();
    });
    socket.on('error', () => undefined); // resets are expected
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static async connect(address: Address, identity: Identity): Promise<RawPeer> {
    return new RawPeer((await connectTls(address, { identity })).socket);
  }

  send(data: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Waits (at most `ms`) until `condition` holds; returns whether it does. */
  async until(condition: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  errorsReceived(): Array<Extract<Envelope, { kind: 'error' }>> {
    return this.received.filter((message): message is Extract<Envelope, { kind: 'error' }> => message.kind === 'error');
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

describe('a live node over real TCP under hostile input', () => {
  const runtime = createRealRuntime();
  let server: ButterNode;
  let client: ButterNode;
  let identity: Identity;
  let requestsAnswered = 0;

  const helloFrame = (from: Identity, overrides: Partial<Extract<Envelope, { kind: 'hello' }>> = {}): Uint8Array =>
    encodeEnvelopeFrame({ kind: 'hello', nodeId: from.nodeId, publicKey: from.publicKey, networkId: 'butter', listenAddresses: [], observed: undefined, ...overrides });

  /** A normal node's valid request still gets its answer. */
  async function serverStillAnswers(): Promise<void> {
    const payload = bytes(`still alive ${requestsAnswered}`);
    const reply = await within(client.request(server.address, 'echo', payload), 'the echo reply', 5_000);
    assert.equal(text(reply), text(payload));
    requestsAnswered += 1;
  }

  /** Opens a raw connection, runs `body` with it, and always closes it. */
  async function withRawPeer(body: (peer: RawPeer) => Promise<void>): Promise<void> {
    const peer = await RawPeer.connect(server.address, identity);
    try {
      await body(peer);
    } finally {
      peer.destroy();
    }
  }

  before(async () => {
    server = await createNode({ host: '127.0.0.1', runtime, memoryMB: 64, discovery: { enabled: false } });
    server.route('echo', (_node, payload) => payload);
    await server.spawn();
    client = await createNode({ host: '127.0.0.1', runtime, memoryMB: 64, discovery: { enabled: false } });
    await client.spawn();
    identity = createIdentity(runtime.random);
  });

  after(async () => {
    await Promise.all([server?.stop({ graceful: false }), client?.stop({ graceful: false })]);
  });

  it('survives random garbage, whole or in pieces', { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 4096 }), cutsArbitrary, async (garbage, cuts) => {
        await withRawPeer(async (peer) => {
          for (const chunk of chunked(garbage, cuts)) peer.send(chunk);
          await peer.until(() => peer.closed, 30);
        });
      }),
      { numRuns: 150 },
    );
    await serverStillAnswers();
  });

  it('hangs up on zero or oversized length prefixes at once, saying why', { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant(0), fc.integer({ min: 1024 * 1024 + 1025, max: 0xffffffff })),
        fc.boolean(),
        async (drawnLength, helloFirst) => {
          // Before its HELLO a peer may not even announce a frame above the HELLO's bound.
          const length = helloFirst || drawnLength === 0 ? drawnLength : maxHelloFrameBytes + 1 + (drawnLength % (1024 * 1024));
          await withRawPeer(async (peer) => {
            if (helloFirst) peer.send(helloFrame(identity));
            peer.send(concat([lengthPrefix(length), new Uint8Array(16)]));
            assert.ok(await peer.until(() => peer.closed, 2_000), 'the node closes the connection');
            assert.ok(peer.errorsReceived().some((error) => error.code === 'PROTOCOL_ERROR' && error.requestId === 0));
          });
        },
      ),
      { numRuns: 20 },
    );
    await serverStillAnswers();
  });

  it('tolerates truncated frames and drops the connection when the peer leaves', { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(envelopeArbitrary, fc.nat(), fc.boolean(), async (message, cut, helloFirst) => {
        const frame = encodeEnvelopeFrame(message);
        await withRawPeer(async (peer) => {
          if (helloFirst) peer.send(helloFrame(identity));
          peer.send(frame.subarray(0, cut % frame.length));
          await peer.until(() => peer.closed, 10);
        });
      }),
      { numRuns: 40 },
    );
    await serverStillAnswers();
  });

  it('answers malformed envelopes after the handshake with typed errors and keeps serving', { timeout: 30_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(brokenEnvelopeArbitrary, { minLength: 1, maxLength: 8 }), async (broken) => {
        await withRawPeer(async (peer) => {
          peer.send(helloFrame(identity));
          const bodies = broken.map(([version, kind, rest]) => encodeValue([version, kind, ...rest]));
          // Random arrays may still form valid messages; count on an error only for those that do not.
          const invalid = bodies.filter((body) => {
            try {
              const message = decodeEnvelope(body);
              return message.kind === 'hello'; // a second HELLO is a violation too
            } catch {
              return true;
            }
          }).length;
          for (const body of bodies) peer.send(encodeFrame(body));
          peer.send(encodeEnvelopeFrame({ kind: 'request', requestId: 77, route: 'echo', payload: bytes('raw') }));
          // Below maxProtocolViolations the connection carries on and the valid request is answered.
          const answered = (): boolean => peer.received.some((message) => message.kind === 'response' && message.requestId === 77);
          assert.ok(await peer.until(answered, 2_000), `no answer after ${invalid} invalid envelopes: ${JSON.stringify(peer.received)}`);
          const protocolErrors = peer.errorsReceived().filter((error) => error.code === 'PROTOCOL_ERROR');
          assert.ok(protocolErrors.length >= invalid, `${protocolErrors.length} PROTOCOL_ERROR replies for ${invalid} invalid envelopes`);
          assert.equal(peer.errorsReceived().filter((error) => error.code === 'UNREADABLE').length, 0, 'every reply is a valid envelope');
        });
      }),
      { numRuns: 40 },
    );
    await serverStillAnswers();
  });

  it('refuses specific malformed envelopes with the request id when it can read one', { timeout: 30_000 }, async () => {
    const cases: Array<{ name: string; value: unknown[]; requestId: number }> = [
      { name: 'wrong version', value: [2, FrameKind.request, 5, 'echo', new Uint8Array()], requestId: 0 },
      { name: 'unknown kind', value: [protocolVersion, 9, 5, 'echo', new Uint8Array()], requestId: 0 },
      { name: 'route of the wrong type', value: [protocolVersion, FrameKind.request, 5, 42, new Uint8Array()], requestId: 5 },
      { name: 'payload of the wrong type', value: [protocolVersion, FrameKind.request, 6, 'echo', 'text'], requestId: 6 },
      { name: 'huge route', value: [protocolVersion, FrameKind.request, 7, 'r'.repeat(100_000), new Uint8Array()], requestId: 7 },
      { name: 'route with bad characters', value: [protocolVersion, FrameKind.request, 8, 'a b', new Uint8Array()], requestId: 8 },
      { name: 'negative request id', value: [protocolVersion, FrameKind.request, -1, 'echo', new Uint8Array()], requestId: 0 },
      { name: 'request id 0, reserved for the connection', value: [protocolVersion, FrameKind.request, 0, 'echo', new Uint8Array()], requestId: 0 },
      { name: 'version that is no number', value: [{ toString: 1 }, FrameKind.request, 9, 'echo', new Uint8Array()], requestId: 0 },
      { name: 'kind that is no number', value: [protocolVersion, { toString: 1 }, 9, 'echo', new Uint8Array()], requestId: 0 },
    ];
    await withRawPeer(async (peer) => {
      peer.send(helloFrame(identity));
      for (const { value } of cases) peer.send(encodeFrame(encodeValue(value)));
      assert.ok(await peer.until(() => peer.errorsReceived().length >= cases.length, 2_000), JSON.stringify(peer.received));
      const errors = peer.errorsReceived();
      cases.forEach(({ name, requestId }, index) => {
        assert.equal(errors[index]?.code, 'PROTOCOL_ERROR', name);
        assert.equal(errors[index]?.requestId, requestId, name);
      });
      assert.equal(peer.closed, false, 'fewer violations than the limit keep the connection');
    });
    await serverStillAnswers();
  });

  it('refuses a HELLO whose node id does not match its key, that impersonates another node, or names another network', { timeout: 30_000 }, async () => {
    const other = createIdentity(runtime.random);
    const hellos = [
      helloFrame(identity, { nodeId: other.nodeId }),
      helloFrame(identity, { publicKey: other.publicKey }),
      // Self-consistent, but not the key this peer proved over TLS: an impersonation.
      helloFrame(other),
      helloFrame(identity, { networkId: 'elsewhere' }),
      helloFrame(identity, { nodeId: server.id }),
      encodeEnvelopeFrame({ kind: 'request', requestId: 3, route: 'echo', payload: bytes('no hello') }),
    ];
    for (const hello of hellos) {
      await withRawPeer(async (peer) => {
        peer.send(hello);
        assert.ok(await peer.until(() => peer.closed, 2_000), 'the node closes the connection');
        assert.ok(peer.errorsReceived().some((error) => error.code === 'PROTOCOL_ERROR'), JSON.stringify(peer.received));
        assert.ok(!peer.received.some((message) => message.kind === 'response'), 'nothing is served before a valid HELLO');
      });
    }
    await serverStillAnswers();
  });

  it('gives a plaintext peer not one byte of the protocol', { timeout: 30_000 }, async () => {
    const socket = net.connect(server.address.port, server.address.host, () => socket.write(helloFrame(identity)));
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined);
    await within(new Promise((resolve) => socket.once('close', resolve)), 'the refusal', 5_000);
    // At most a TLS alert (7 bytes) comes back; the node's HELLO alone is over a hundred.
    assert.ok(Buffer.concat(received).length < 16, `${Buffer.concat(received).length} bytes came back`);
    await serverStillAnswers();
  });

  it('drops a peer that never says HELLO, or breaks the protocol too often', { timeout: 30_000 }, async () => {
    const strict = await createNode({ host: '127.0.0.1', runtime, memoryMB: 64, transport: { handshakeTimeoutMs: 200, maxProtocolViolations: 3 } });
    try {
      strict.route('echo', (_node, payload) => payload);
      await strict.spawn();
      const silent = await RawPeer.connect(strict.address, identity);
      try {
        assert.ok(await silent.until(() => silent.closed, 5_000), 'a silent peer is dropped after handshakeTimeoutMs');
      } finally {
        silent.destroy();
      }
      const noisy = await RawPeer.connect(strict.address, identity);
      try {
        noisy.send(helloFrame(identity));
        for (let index = 0; index < 4; index += 1) noisy.send(encodeFrame(encodeValue([protocolVersion, 99])));
        assert.ok(await noisy.until(() => noisy.closed, 5_000), 'a peer past maxProtocolViolations is dropped');
        assert.equal(noisy.errorsReceived().filter((error) => error.code === 'PROTOCOL_ERROR').length, 4);
      } finally {
        noisy.destroy();
      }
      assert.equal(text(await within(client.request(strict.address, 'echo', bytes('fine')), 'the echo reply')), 'fine');
    } finally {
      await strict.stop({ graceful: false });
    }
  });

  it('survives a hostile peer that answers its requests with odd replies', { timeout: 30_000 }, async () => {
    // A raw server the node dials: it completes the handshake, then answers every request badly.
    let reply: (requestId: number) => Uint8Array = () => new Uint8Array();
    const sockets = new Set<net.Socket>();
    const hostile = tls.createServer({ ...tlsCredentials(identity), minVersion: 'TLSv1.3' }, (socket) => {
      sockets.add(socket);
      const decoder = new FrameDecoder(16 * 1024 * 1024);
      socket.on('error', () => undefined);
      socket.write(helloFrame(identity, { listenAddresses: [{ transport: 'tcp', host: '127.0.0.1', port: (hostile.address() as net.AddressInfo).port }] }));
      socket.on('data', (chunk: Buffer) => {
        for (const body of decoder.push(chunk)) {
          const message = decodeEnvelope(body);
          if (message.kind === 'request') socket.write(reply(message.requestId));
        }
      });
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    const address = { host: '127.0.0.1', port: (hostile.address() as net.AddressInfo).port };
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.record({ code: fc.constantFrom('__proto__', 'constructor', 'toString', 'UNKNOWN_ROUTE', 'TIMEOUT'), message: fc.string({ maxLength: 20 }) }),
            fc.record({ code: fc.string({ minLength: 1, maxLength: 32 }), message: fc.string({ maxLength: 20 }) }),
          ),
          async ({ code, message }) => {
            reply = (requestId) => encodeEnvelopeFrame({ kind: 'error', requestId, code, message });
            await assert.rejects(within(client.request(address, 'anything', bytes('?'), { timeoutMs: 2_000 }), 'the error reply'), (error: unknown) => {
              assert.ok(error instanceof ButterError, `code ${JSON.stringify(code)} gave ${String(error)}`);
              return true;
            });
          },
        ),
        { numRuns: 40 },
      );
      // Replies to requests never sent, and a reply that is no envelope at all.
      reply = (requestId) => concat([encodeEnvelopeFrame({ kind: 'response', requestId: requestId + 1000, payload: new Uint8Array() }), encodeFrame(new Uint8Array([0xc1]))]);
      await assert.rejects(within(client.request(address, 'anything', bytes('?'), { timeoutMs: 300 }), 'the timeout'), ButterError);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hostile.close(() => resolve()));
    }
    await serverStillAnswers();
  });
});
