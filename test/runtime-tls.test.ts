import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createRealRuntime } from '../src/runtime/real.js';
import { ed25519KeyOf, selfSignedCertificate } from '../src/runtime/real/certificate.js';
import { defaultHandshakeAdmissionLimits } from '../src/runtime/handshake-admission.js';
import { ConnectError, type Listener, type Stream } from '../src/runtime/types.js';
import { caSignedEd25519Certificate, rsaCertificate } from './fixtures/foreign-certificates.js';
import { connectTls, freshIdentity, tlsCredentials } from './support/channel.js';
import { within } from './support/world.js';

/**
 * The real runtime's channel: TLS 1.3, both ends presenting a certificate
 * self-signed with their Ed25519 identity key. Only a peer that proved such a
 * key becomes a Stream; everything else is dropped before protocol code runs.
 */

const runtime = createRealRuntime();
const loopback = '127.0.0.1';
const testTimeout = { timeout: 20_000 };

/** Resolves once the socket has closed, however (the other end hung up, or the handshake failed). */
function closed(socket: net.Socket): Promise<void> {
  socket.on('error', () => undefined);
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

describe('channel certificate', () => {
  it('is a small self-signed Ed25519 certificate that node:crypto parses and verifies, the same for one key', () => {
    const identity = freshIdentity();
    const der = selfSignedCertificate(identity.privateKey);
    assert.ok(der.length < 256, `${der.length} bytes`);
    const certificate = new X509Certificate(der);
    assert.equal(certificate.publicKey.asymmetricKeyType, 'ed25519');
    assert.ok(certificate.verify(certificate.publicKey));
    assert.deepEqual(ed25519KeyOf(certificate), identity.publicKey);
    assert.deepEqual(selfSignedCertificate(identity.privateKey), der, 'Ed25519 signatures are deterministic');
  });

  it('yields no key for an RSA certificate or an Ed25519 one signed by another key', () => {
    assert.equal(ed25519KeyOf(new X509Certificate(rsaCertificate.cert)), undefined);
    assert.equal(ed25519KeyOf(new X509Certificate(caSignedEd25519Certificate.cert)), undefined);
    assert.equal(ed25519KeyOf(undefined), undefined);
  });
});

describe('real runtime: authenticated TLS streams', () => {
  const identity = freshIdentity();
  let listener: Listener;
  const accepted: Stream[] = [];

  before(async () => {
    listener = await runtime.listen({ host: loopback, port: 0, identity }, (stream) => {
      accepted.push(stream);
      stream.start({ onData: (chunk) => stream.write(chunk), onClose: () => undefined });
    });
  });

  after(async () => {
    for (const stream of accepted) stream.destroy();
    await listener.close();
  });

  it('hands over a stream whose remote key is the dialler\'s, and echoes over it', testTimeout, async () => {
    const { socket, identity: client } = await connectTls(listener.address);
    try {
      assert.ok(ed25519KeyOf(socket.getPeerX509Certificate()), 'the server presents an Ed25519 certificate');
      socket.write('ping');
      const reply = await within(new Promise<Buffer>((resolve) => socket.once('data', resolve)), 'the echo');
      assert.equal(reply.toString(), 'ping');
      assert.deepEqual(accepted.at(-1)?.remotePublicKey, client.publicKey);
    } finally {
      socket.destroy();
    }
  });

  /** Opens a connection with `connect` and checks it is dropped without ever becoming a stream. */
  async function assertRefused(connect: () => net.Socket): Promise<void> {
    const before = accepted.length;
    const socket = connect();
    await within(closed(socket), 'the refusal', 5_000);
    assert.equal(accepted.length, before, 'no stream was handed to protocol code');
  }

  it('refuses a plaintext peer', testTimeout, async () => {
    await assertRefused(() => net.connect(listener.address.port, loopback).on('connect', function (this: net.Socket) {
      this.write(new Uint8Array([0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8])); // a frame, as a node without TLS would send
    }));
  });

  it('refuses a TLS 1.2-only client', testTimeout, async () => {
    await assertRefused(() => tls.connect({ ...hostPort(), ...tlsCredentials(freshIdentity()), maxVersion: 'TLSv1.2', minVersion: 'TLSv1.2', rejectUnauthorized: false }));
  });

  it('refuses a client without a certificate, with an RSA one, or with an Ed25519 one a CA signed', testTimeout, async () => {
    await assertRefused(() => tls.connect({ ...hostPort(), minVersion: 'TLSv1.3', rejectUnauthorized: false }));
    await assertRefused(() => tls.connect({ ...hostPort(), ...rsaCertificate, minVersion: 'TLSv1.3', rejectUnauthorized: false }));
    await assertRefused(() => tls.connect({ ...hostPort(), ...caSignedEd25519Certificate, minVersion: 'TLSv1.3', rejectUnauthorized: false }));
  });

  it('fails a connect with "unauthenticated" to a server that presents no Ed25519 identity', testTimeout, async () => {
    const foreign = tls.createServer({ ...rsaCertificate, minVersion: 'TLSv1.3' }, (socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => foreign.listen(0, loopback, resolve));
    try {
      const port = (foreign.address() as net.AddressInfo).port;
      await assert.rejects(runtime.connect({ host: loopback, port }, { timeoutMs: 2_000, identity }), (error: unknown) => {
        assert.ok(error instanceof ConnectError && error.reason === 'unauthenticated', String(error));
        return true;
      });
    } finally {
      foreign.close();
    }
  });

  function hostPort(): { host: string; port: number } {
    return { host: loopback, port: listener.address.port };
  }
});

describe('real runtime: TLS handshakes in progress are bounded', () => {
  it('closes at once sockets past the per-host cap, drops the rest at the handshake deadline, and still admits a peer from elsewhere (in a stalled one\'s slot)', { timeout: 60_000 }, async () => {
    const identity = freshIdentity();
    const accepted: Stream[] = [];
    // Long enough for a loaded machine to open all the sockets before it passes.
    const handshakeTimeoutMs = 6_000;
    const listener = await runtime.listen({ host: loopback, port: 0, identity, handshakeTimeoutMs }, (stream) => accepted.push(stream));
    const sockets: net.Socket[] = [];
    try {
      const closedAt: number[] = [];
      const startedAt = Date.now();
      // 1,100 connections from one address that never start TLS, opened in batches that each wait
      // for the kernel to establish them: all at once overflow the listen backlog, and the SYNs
      // retried seconds later would take the slots of held ones reaching their deadline.
      for (let batch = 0; batch < 11; batch += 1) {
        const opened: Array<Promise<unknown>> = [];
        for (let index = 0; index < 100; index += 1) {
          const socket = net.connect(listener.address.port, loopback);
          sockets.push(socket);
          opened.push(new Promise((resolve) => socket.once('connect', resolve).once('close', resolve)));
          void closed(socket).then(() => closedAt.push(Date.now() - startedAt));
        }
        await within(Promise.all(opened), 'a batch of connections', 10_000);
      }
      await within(waitFor(() => closedAt.length >= 1_100 - defaultHandshakeAdmissionLimits.maxPerHost), 'the sockets past the cap to close', 10_000);
      assert.ok(Date.now() - startedAt < handshakeTimeoutMs, 'those past the cap were closed before any handshake deadline');
      // Another address still gets a slot, and a stream.
      const { socket, identity: peer } = await within(connectTls(listener.address, { tls: { localAddress: '127.0.0.2' } as tls.ConnectionOptions }), 'a peer from 127.0.0.2');
      sockets.push(socket);
      await within(waitFor(() => accepted.length === 1), 'its stream');
      assert.deepEqual(accepted[0]?.remotePublicKey, peer.publicKey);
      // The held ones never finish TLS: gone at the deadline.
      await within(waitFor(() => closedAt.length >= 1_100), 'the handshake deadline', 15_000);
      // All but one: the peer from a quieter address took the slot of the oldest stalled handshake.
      const heldToDeadline = closedAt.filter((ms) => ms >= handshakeTimeoutMs).length;
      assert.ok(heldToDeadline >= defaultHandshakeAdmissionLimits.maxPerHost - 1, `${heldToDeadline} held ones lasted until the deadline`);
      assert.equal(socket.destroyed, false, 'the authenticated peer stays connected');
    } finally {
      for (const socket of sockets) socket.destroy();
      for (const stream of accepted) stream.destroy();
      await listener.close();
    }
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 20));
}
