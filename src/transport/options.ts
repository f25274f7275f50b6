/** Limits and timings of the stream transport; every one has a documented default. */
export interface TransportOptions {
  /** Largest request or response payload a node sends or accepts. */
  maxPayloadBytes: number;
  /** Largest frame body accepted; the payload plus room for the envelope. */
  maxFrameBytes: number;
  /** Requests awaiting a reply on one connection before new ones fail with OVERLOADED. */
  maxPendingRequests: number;
  /** Inbound requests handled at once on one connection; more get an OVERLOADED reply. */
  maxConcurrentHandlers: number;
  /** Bytes queued for a peer that does not read before the connection is dropped. */
  maxBufferedWriteBytes: number;
  /** Protocol violations tolerated on one connection before it is closed. */
  maxProtocolViolations: number;
  /**
   * Open connections per node. When all are taken the least valuable makes room: an
   * unfinished handshake, then an anonymous peer, then the idle stranger quiet the longest;
   * never a known host or a service's peer for a stranger (docs/SECURITY.md, "Admission").
   */
  maxConnections: number;
  /** Inbound connections still before a valid HELLO, in all: the oldest makes room for a new one. */
  maxHandshakes: number;
  /** Inbound connections still before a valid HELLO from one remote address: more are closed at once. */
  maxHandshakesPerAddress: number;
  connectTimeoutMs: number;
  /** Time allowed for the peer's HELLO after the stream opens. */
  handshakeTimeoutMs: number;
  /** Requests and notifications a peer may send per second on one connection, on average; more are answered OVERLOADED. */
  maxRequestsPerSecond: number;
  /** How many requests and notifications a quiet peer may send at once before `maxRequestsPerSecond` applies. */
  requestBurst: number;
  /** A connection with no traffic and no pending request for this long is closed. */
  idleTimeoutMs: number;
}

export const defaultTransportOptions: TransportOptions = {
  maxPayloadBytes: 1024 * 1024,
  maxFrameBytes: 1024 * 1024 + 1024,
  maxPendingRequests: 4096,
  maxConcurrentHandlers: 4096,
  maxBufferedWriteBytes: 16 * 1024 * 1024,
  maxProtocolViolations: 16,
  maxConnections: 1024,
  maxHandshakes: 128,
  maxHandshakesPerAddress: 8,
  connectTimeoutMs: 5_000,
  handshakeTimeoutMs: 3_000,
  maxRequestsPerSecond: 5_000,
  requestBurst: 10_000,
  idleTimeoutMs: 120_000,
};
