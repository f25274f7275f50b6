import { createNode, defaultServices, type DefaultServices } from '../node/create.js';
import { nat } from '../nat/service.js';
import type { ButterNode } from '../node/node.js';
import { upnpPortMapper } from '../runtime/real/port-mapping.js';
import { formatAddress } from '../runtime/types.js';
import { startApi, type ApiServer } from './api.js';
import { createToken, DataDirLock, removeApiFiles, writeApiFiles } from './data-dir.js';
import { NoPeersError, noPeersHint, WrongNetworkKeyError } from './failures.js';
import { createLogger } from './logging.js';
import { nodeMetrics, startMetricsServer } from './metrics.js';
import { readNetworkKey } from './network-key.js';
import type { Settings } from './settings.js';

/** A node with its control API, started by `butter start` or for one command. */
export interface RunningNode {
  node: ButterNode<DefaultServices>;
  api: ApiServer;
  token: string;
  metricsUrl: string | undefined;
  /** Leaves (handing blocks over unless `graceful` is false) and releases everything; safe to call twice. */
  stop(graceful?: boolean): Promise<void>;
  /** Settles once the node stopped, however it was asked to. */
  stopped: Promise<void>;
}

export interface StartOptions {
  /** A short-lived node for one command: its API is not published in the data directory and it has no metrics. */
  transient: boolean;
  /** Where the visible progress lines go ("handing over N blocks… done"). */
  write: (text: string) => void;
}

/** How long a long-lived node waits for a first peer before it says that it found none. */
const lonelyWarningMs = 10_000;

/**
 * Locks the data directory, creates and spawns the node with the default
 * services, then opens the control API (and the metrics endpoint, when
 * asked). A failure at any step undoes the earlier ones.
 */
export async function startNode(settings: Settings, options: StartOptions): Promise<RunningNode> {
  // Read before anything is locked, so that a bad key file leaves nothing to undo.
  const networkKey = settings.networkKey === undefined ? undefined : readNetworkKey(settings.networkKey);
  const lock = DataDirLock.acquire(settings.dataDir);
  const undo: Array<() => Promise<void> | void> = [() => lock.release()];
  try {
    const node = await createNode({
      port: settings.port,
      host: settings.host,
      memoryMB: settings.memoryMB,
      dataDir: settings.dataDir,
      networkId: settings.networkId,
      networkKey,
      bootstrap: settings.bootstrap,
      ambassador: settings.ambassador,
      // NAT traversal: the Ambassador role with --ambassador; otherwise registering with the Ambassadors it knows,
      // and with --port-mapping a UPnP forward (not for the short-lived node of put / get).
      services: { ...defaultServices(), nat: nat(settings.portMapping && !options.transient ? { portMapper: upnpPortMapper() } : {}) },
      discovery: { enabled: settings.discovery },
      logger: createLogger(settings.logLevel),
    });
    await node.spawn();
    undo.push(() => node.stop({ graceful: false }));
    const metrics = options.transient || settings.metricsPort === undefined ? undefined : nodeMetrics(node);
    const token = createToken();
    let stopping: Promise<void> | undefined;
    let resolveStopped: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
    const api = await startApi(
      { node, token, onQuery: metrics?.recordQuery, onStopRequested: (graceful) => void running.stop(graceful) },
      options.transient ? 0 : settings.apiPort,
    );
    undo.push(() => api.close());
    const metricsServer = metrics && settings.metricsPort !== undefined ? await startMetricsServer(metrics, settings.metricsPort) : undefined;
    if (!options.transient) writeApiFiles(settings.dataDir, token, { url: api.url, pid: process.pid });
    const lonely = options.transient ? undefined : setTimeout(() => warnIfAlone(node, options.write), lonelyWarningMs).unref();
    const leave = async (graceful: boolean): Promise<void> => {
      clearTimeout(lonely);
      // Unpublished first, so that commands stop finding a node that is going.
      if (!options.transient) removeApiFiles(settings.dataDir);
      const blocks = node.services.storage.blocks.size;
      // A short-lived node that held nothing has nothing to say.
      const visible = graceful && (blocks > 0 || !options.transient);
      if (visible) options.write(`handing over ${blocks} block${blocks === 1 ? '' : 's'}… `);
      await node.stop({ graceful });
      if (visible) options.write('done\n');
      await api.close();
      await metricsServer?.close();
      metrics?.dispose();
      lock.release();
      resolveStopped();
    };
    const running: RunningNode = {
      node,
      api,
      token,
      metricsUrl: metricsServer?.url,
      stop: (graceful = true) => (stopping ??= leave(graceful)),
      stopped,
    };
    return running;
  } catch (error) {
    for (const step of undo.reverse()) await Promise.resolve(step()).catch(() => undefined);
    throw error;
  }
}

function warnIfAlone(node: ButterNode<DefaultServices>, write: (text: string) => void): void {
  if (node.isRunning && node.knownHosts.size === 0) write(`no peers found yet (${lonelyWarningMs / 1000} s after start): ${noPeersHint}\n`);
}

/**
 * A short-lived node first waits to know at least one host: a command run
 * before that would store nothing anywhere else, or find nothing.
 */
export async function waitForPeers(node: ButterNode<DefaultServices>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (node.knownHosts.size === 0) {
    if (Date.now() >= deadline && node.networkKeyRefusals > 0) {
      throw new WrongNetworkKeyError(`no peers within ${timeoutMs / 1000} s, and ${node.networkKeyRefusals} connection${node.networkKeyRefusals === 1 ? ' was' : 's were'} refused over the network key: check --network-key (the same 32-byte file on every node of the network, or none on all)`);
    }
    if (Date.now() >= deadline) throw new NoPeersError(`no peers found within ${timeoutMs / 1000} s (this node listens on ${formatAddress(node.address)}): ${noPeersHint}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
