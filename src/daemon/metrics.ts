import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DefaultServices } from '../node/create.js';
import type { ButterNode } from '../node/node.js';
import type { QueryOutcome } from './api.js';
import { closeServer, listenOnLoopback } from './http.js';

/** Host classes are 0..7 (three quality bits). */
const hostClasses = 8;

export interface NodeMetrics {
  registry: Registry;
  recordQuery(outcome: QueryOutcome, seconds: number): void;
  /** Stops listening for peer failures. */
  dispose(): void;
}

/**
 * The node's Prometheus metrics, read at scrape time from what the node
 * exposes: known hosts and their classes, groups by state, blocks and bytes
 * held, messages and bytes sent by label, peer failures by error, discovery
 * drops, content lookups, and prom-client's process defaults.
 */
export function nodeMetrics(node: ButterNode<DefaultServices>): NodeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const storage = node.services.storage;
  gauge(registry, 'butter_known_hosts', 'Hosts in the known-host list', function () {
    this.set(node.knownHosts.size);
  });
  gauge(registry, 'butter_known_hosts_capacity', 'Capacity of the known-host list', function () {
    this.set(node.knownHosts.capacity);
  });
  gauge(registry, 'butter_known_hosts_by_class', 'Known hosts by host class (0-7; "unknown" before the first quality refresh)', function () {
    const counts = new Map<string, number>([['unknown', 0], ...Array.from({ length: hostClasses }, (_, index) => [String(index), 0] as [string, number])]);
    for (const host of node.hosts.report().hosts) {
      const label = host.hostClass === undefined ? 'unknown' : String(host.hostClass);
      counts.set(label, (counts.get(label) ?? 0) + 1);
    }
    for (const [hostClass, count] of counts) this.labels(hostClass).set(count);
  }, ['class']);
  gauge(registry, 'butter_open_connections', 'Peer connections open now', function () {
    this.set(node.openConnections);
  });
  gauge(registry, 'butter_groups', 'Peer Content Groups this node belongs to, by state', function () {
    const counts = new Map<string, number>([['cold', 0], ['goldilocks', 0], ['hot', 0]]);
    for (const group of storage.groups()) counts.set(group.state, (counts.get(group.state) ?? 0) + 1);
    for (const [state, count] of counts) this.labels(state).set(count);
  }, ['state']);
  gauge(registry, 'butter_blocks_held', 'Blocks held by this node', function () {
    this.set(node.isRunning ? storage.blocks.size : 0);
  });
  gauge(registry, 'butter_block_bytes_held', 'Storage bytes used by the blocks held (with their metadata)', function () {
    this.set(node.isRunning ? storage.blocks.usedBytes() : 0);
  });
  gauge(registry, 'butter_storage_capacity_bytes', 'Storage allocation in bytes', function () {
    this.set(node.memory.storageBytes);
  });
  sentCounter(registry, 'butter_messages_sent_total', 'Messages sent, by label (kind and route)', node, 'messages');
  sentCounter(registry, 'butter_bytes_sent_total', 'Bytes sent, by label (kind and route)', node, 'bytes');
  new Counter({
    name: 'butter_discovery_datagrams_dropped_total',
    help: 'Discovery datagrams dropped unread, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const stats = node.discovery.stats;
      if (!stats) return;
      this.reset();
      for (const reason of ['oversized', 'rateLimited', 'malformed', 'foreignNetwork', 'stray'] as const) this.labels(reason).inc(stats[reason]);
    },
  });
  new Counter({
    name: 'butter_network_key_refusals_total',
    help: 'Connections closed during the handshake because the peer proved another network key or none',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(node.networkKeyRefusals);
    },
  });
  new Counter({
    name: 'butter_handshake_failures_total',
    help: 'Handshakes that failed, by direction and reason (TLS, HELLO deadline, protocol errors, network key)',
    labelNames: ['direction', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, count] of node.handshakeFailures) {
        const [direction = '', reason = ''] = key.split(':');
        this.labels(direction, reason).inc(count);
      }
    },
  });
  gauge(registry, 'butter_handshakes_in_progress', 'Inbound connections before a valid HELLO (bounded by admission control)', function () {
    this.set(node.admission.handshakes);
  });
  gauge(registry, 'butter_inbound_buffer_bytes', 'Bytes of partial inbound frames held, all connections together (capped by the allocation)', function () {
    this.set(node.admission.inboundBufferBytes);
  });
  gauge(registry, 'butter_outbound_buffer_bytes', 'Bytes written to peers and not yet taken by them, all connections together, as of each connection\'s last write (capped by the allocation)', function () {
    this.set(node.admission.outboundBufferBytes);
  });
  gauge(registry, 'butter_heartbeat_lag_seconds', 'Seconds since each peer sharing a group was last heard: median, 99th percentile and maximum', function () {
    const lags = node.isRunning ? storage.heartbeatLagsMs().sort((a, b) => a - b) : [];
    const at = (fraction: number) => (lags.length === 0 ? 0 : (lags[Math.min(lags.length - 1, Math.floor(fraction * lags.length))] ?? 0) / 1000);
    this.labels('median').set(at(0.5));
    this.labels('p99').set(at(0.99));
    this.labels('max').set(at(1));
  }, ['statistic']);
  const peerFailures = new Counter({ name: 'butter_peer_failures_total', help: 'Requests to peers that failed at the transport level, by error code', labelNames: ['code'], registers: [registry] });
  const unsubscribe = node.onPeerFailure((_peer, error) => peerFailures.labels((error as { code?: string }).code ?? 'UNKNOWN').inc());
  const queries = new Counter({ name: 'butter_content_queries_total', help: 'Content lookups through the API, by outcome', labelNames: ['outcome'], registers: [registry] });
  const queryDuration = new Histogram({
    name: 'butter_content_query_duration_seconds',
    help: 'Time to find and verify content through the API, by outcome',
    labelNames: ['outcome'],
    buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return {
    registry,
    recordQuery(outcome, seconds) {
      queries.labels(outcome).inc();
      queryDuration.labels(outcome).observe(seconds);
    },
    dispose: unsubscribe,
  };
}

function gauge(registry: Registry, name: string, help: string, collect: (this: Gauge) => void, labelNames: string[] = []): void {
  new Gauge({ name, help, labelNames, registers: [registry], collect });
}

/** The node's own running totals, exposed as counters: each scrape copies them. */
function sentCounter(registry: Registry, name: string, help: string, node: ButterNode<DefaultServices>, field: 'messages' | 'bytes'): void {
  new Counter({
    name,
    help,
    labelNames: ['label'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [label, count] of Object.entries(node.traffic.byLabel())) this.labels(label).inc(count[field]);
    },
  });
}

/** Serves `GET /metrics` on 127.0.0.1:`port` (no token: a scraper on this machine reads it). */
export async function startMetricsServer(metrics: NodeMetrics, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n'),
    );
  });
  server.maxConnections = 16;
  const listening = await listenOnLoopback(server, port, 'metrics endpoint');
  return { url: `http://127.0.0.1:${listening}/metrics`, close: () => closeServer(server) };
}
