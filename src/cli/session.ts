import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readApiEndpoint, tokenFileName } from '../daemon/data-dir.js';
import { startNode, waitForPeers } from '../daemon/daemon.js';
import { CommandError } from '../daemon/failures.js';
import type { Settings } from '../daemon/settings.js';
import { ApiClient } from './client.js';

export interface Target {
  /** `--api URL`: a node's API given directly; its token from `--token`, BUTTER_API_TOKEN or the data directory. */
  api: string | undefined;
  token: string | undefined;
}

/** The API of the node running on the data directory (or at `--api`); undefined when none runs there. */
export function runningNode(settings: Settings, target: Target): ApiClient | undefined {
  if (target.api !== undefined) return new ApiClient(target.api, target.token ?? tokenIn(settings.dataDir));
  const found = readApiEndpoint(settings.dataDir);
  return found && new ApiClient(found.endpoint.url, found.token);
}

export function requireRunningNode(settings: Settings, target: Target): ApiClient {
  const client = runningNode(settings, target);
  if (!client) throw new CommandError('NO_NODE', `no node is running on data directory ${settings.dataDir} (start one with: butter start --data-dir ${settings.dataDir})`);
  return client;
}

function tokenIn(dataDir: string): string {
  try {
    return readFileSync(join(dataDir, tokenFileName), 'utf8').trim();
  } catch {
    throw new CommandError('UNAUTHORIZED', `no API token: give --token, set BUTTER_API_TOKEN, or run on the node's machine with its --data-dir (${join(dataDir, tokenFileName)})`);
  }
}

/**
 * Runs `job` against the node running on the data directory, or, with none
 * running, against a short-lived node started for it: it joins (waiting up to
 * `joinTimeoutMs` for a first peer), does the job through the same API, and
 * leaves gracefully, handing its blocks over, so a `put` stays in the network.
 */
export async function withNode<T>(settings: Settings, target: Target, joinTimeoutMs: number, job: (client: ApiClient) => Promise<T>): Promise<T> {
  const client = runningNode(settings, target);
  if (client) return job(client);
  const running = await startNode(settings, { transient: true, write: (text) => process.stderr.write(text) });
  try {
    await waitForPeers(running.node, joinTimeoutMs);
    return await job(new ApiClient(running.api.url, running.token));
  } finally {
    await running.stop(true);
  }
}
