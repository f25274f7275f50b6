import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { Writable } from 'node:stream';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startNode } from '../daemon/daemon.js';
import { isAlive } from '../daemon/data-dir.js';
import { CommandError } from '../daemon/failures.js';
import { logLevels, resolveSettings, type Settings } from '../daemon/settings.js';
import { onShutdownSignal } from '../runtime/real/signals.js';
import { contentIdPattern } from '../storage/block.js';
import { defaultStorageOptions } from '../storage/service.js';
import type { ApiClient } from './client.js';
import { progressBar } from './progress.js';
import { requireRunningNode, withNode, type Target } from './session.js';

/** What commander hands an action: every option of the node and of the client, all optional. */
interface CommandOptions {
  port?: number;
  host?: string;
  dataDir?: string;
  bootstrap?: string[];
  networkId?: string;
  networkKey?: string;
  memory?: number;
  ambassador?: boolean;
  portMapping?: boolean;
  discovery?: boolean;
  apiPort?: number;
  metricsPort?: number;
  logLevel?: Settings['logLevel'];
  config?: string;
  api?: string;
  token?: string;
  json?: boolean;
  joinTimeout?: number;
}

/** How long `stop` waits for the node's process to be gone. */
const stopWaitMs = 120_000;
const contentIdRegExp = new RegExp(contentIdPattern);

function number(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError('expected a number');
  return parsed;
}

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return parsed;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The settings of a node: `butter start`, and the short-lived node of `put` and `get`. */
function withNodeOptions(command: Command): Command {
  return withDataDirOptions(command)
    .option('--port <port>', 'TCP port for peers (0 = any free port) [BUTTER_PORT]', port)
    .option('--host <address>', 'interface to listen on for peers [BUTTER_HOST]')
    .option('--bootstrap <host:port>', 'a node to contact at start; repeatable [BUTTER_BOOTSTRAP, comma-separated]', collect)
    .option('--network-id <id>', 'nodes of other networks are refused [BUTTER_NETWORK_ID]')
    .option('--network-key <file>', 'a 32-byte network key file [BUTTER_NETWORK_KEY]')
    .option('--memory <MB>', 'memory allocation in MB, split between known hosts and storage [BUTTER_MEMORY]', number)
    .option('--ambassador', 'announce this node as an Ambassador [BUTTER_AMBASSADOR]')
    .option('--port-mapping', "ask the LAN's UPnP gateway to forward the peer port [BUTTER_PORT_MAPPING]")
    .option('--no-discovery', 'no LAN multicast discovery [BUTTER_DISCOVERY=false]')
    .option('--api-port <port>', 'port of the control API on 127.0.0.1 (0 = any) [BUTTER_API_PORT]', port)
    .option('--metrics-port <port>', 'serve Prometheus metrics on 127.0.0.1:<port>/metrics [BUTTER_METRICS_PORT]', port)
    .addOption(new Option('--log-level <level>', 'log level, to stderr [BUTTER_LOG_LEVEL]').choices(logLevels));
}

function withDataDirOptions(command: Command): Command {
  return command
    .option('--data-dir <path>', 'identity, blocks, known hosts and the API token (default ~/.butter) [BUTTER_DATA_DIR]')
    .option('--config <file>', 'a JSON file of settings (flag > environment > file > default) [BUTTER_CONFIG]')
    .option('--json', 'print JSON for scripts')
    .option('--verbose', 'print stack traces of failures');
}

function withClientOptions(command: Command): Command {
  return command
    .option('--api <url>', "a node's control API, instead of the one found in --data-dir [BUTTER_API]")
    .option('--token <token>', 'the API token for --api [BUTTER_API_TOKEN]');
}

function settingsOf(options: CommandOptions, command: Command): Settings {
  return resolveSettings(
    {
      port: options.port,
      host: options.host,
      dataDir: options.dataDir,
      bootstrap: options.bootstrap,
      networkId: options.networkId,
      networkKey: options.networkKey,
      memoryMB: options.memory,
      ambassador: options.ambassador,
      portMapping: options.portMapping,
      // `--no-discovery` makes commander default the flag to true: only an explicit flag counts.
      discovery: command.getOptionValueSource('discovery') === 'cli' ? options.discovery : undefined,
      apiPort: options.apiPort,
      metricsPort: options.metricsPort,
      logLevel: options.logLevel,
    },
    process.env,
    options.config ?? process.env.BUTTER_CONFIG,
  );
}

function targetOf(options: CommandOptions): Target {
  return { api: options.api ?? process.env.BUTTER_API, token: options.token ?? process.env.BUTTER_API_TOKEN };
}

function print(options: CommandOptions, value: unknown, lines: () => string[]): void {
  process.stdout.write(options.json ? `${JSON.stringify(value)}\n` : lines().map((line) => `${line}\n`).join(''));
}

export function startCommand(): Command {
  return withNodeOptions(new Command('start').description('run a long-lived node with the default services and its control API')).action(
    async (options: CommandOptions, command: Command) => {
      const settings = settingsOf(options, command);
      const write = (text: string) => (options.json ? undefined : process.stdout.write(text));
      const running = await startNode(settings, { transient: false, write });
      onShutdownSignal(() => running.stop(true));
      const { node, api, metricsUrl } = running;
      const started = { nodeId: node.id, address: `${node.address.host}:${node.address.port}`, api: api.url, metrics: metricsUrl ?? null, dataDir: settings.dataDir, pid: process.pid };
      print(options, started, () => [
        `butter node ${node.id.slice(0, 12)} listening on ${started.address} (network "${node.networkId}")`,
        `control API ${api.url} (token in ${settings.dataDir}/api.token)${metricsUrl ? `, metrics ${metricsUrl}` : ''}; Ctrl-C to leave`,
      ]);
      await running.stopped;
    },
  );
}

export function putCommand(): Command {
  return withClientOptions(withNodeOptions(new Command('put')))
    .description('store a file (or stdin: -) durably in the network and print its content id')
    .argument('<file>', 'the file, or - for stdin')
    .option('--keyword <word>', 'a keyword to find the content by; repeatable', collect)
    .option('--replicas <n>', 'copies the network keeps (default 3)', number)
    .option('--join-timeout <seconds>', 'with no node running: how long the short-lived node waits for a first peer', number, 10)
    .action(async (file: string, options: CommandOptions & { keyword?: string[]; replicas?: number }, command: Command) => {
      const settings = settingsOf(options, command);
      const size = file === '-' ? undefined : sizeOf(file);
      const query = new URLSearchParams();
      for (const keyword of options.keyword ?? []) query.append('keyword', keyword);
      if (options.replicas !== undefined) query.set('replicas', String(options.replicas));
      const stored = await withNode(settings, targetOf(options), secondsToMs(options.joinTimeout), (client) =>
        client.upload<{ contentId: string; bytes: number; replicas: number }>(
          `/v1/content?${query}`,
          file === '-' ? process.stdin : createReadStream(file),
          size,
          progressBar('sending', waitingText(options.replicas ?? defaultStorageOptions.replicas)),
        ),
      );
      print(options, stored, () => [stored.contentId]);
    });
}

export function updateCommand(): Command {
  return withClientOptions(withNodeOptions(new Command('update')))
    .description("store a file (or stdin: -) durably as the next version of this node's mutable name, signed by its key")
    .argument('<name>', 'the name (1 to 128 characters); readers name it with the author key printed')
    .argument('<file>', 'the file, or - for stdin')
    .option('--keyword <word>', 'a keyword to find the content by; repeatable', collect)
    .option('--replicas <n>', 'copies the network keeps (default 3)', number)
    .option('--join-timeout <seconds>', 'with no node running: how long the short-lived node waits for a first peer', number, 10)
    .action(async (name: string, file: string, options: CommandOptions & { keyword?: string[]; replicas?: number }, command: Command) => {
      const settings = settingsOf(options, command);
      const size = file === '-' ? undefined : sizeOf(file);
      const query = new URLSearchParams();
      for (const keyword of options.keyword ?? []) query.append('keyword', keyword);
      if (options.replicas !== undefined) query.set('replicas', String(options.replicas));
      const updated = await withNode(settings, targetOf(options), secondsToMs(options.joinTimeout), (client) =>
        client.upload<{ name: string; author: string; sequence: number; contentId: string }>(
          `/v1/names/${encodeURIComponent(name)}?${query}`,
          file === '-' ? process.stdin : createReadStream(file),
          size,
          progressBar('sending', waitingText(options.replicas ?? defaultStorageOptions.replicas)),
        ),
      );
      print(options, updated, () => [`${updated.contentId}`, `version ${updated.sequence} of "${updated.name}" by author ${updated.author}`]);
    });
}

export function deleteCommand(): Command {
  return withClientOptions(withNodeOptions(new Command('delete')))
    .description('delete content this node authored (put by update): its holders drop it and refuse it while the tombstone lives')
    .argument('<id>', 'the content id')
    .option('--join-timeout <seconds>', 'with no node running: how long the short-lived node waits for a first peer', number, 10)
    .action(async (id: string, options: CommandOptions, command: Command) => {
      if (!contentIdRegExp.test(id)) throw new CommandError('INVALID_ARGUMENT', `invalid content id ${JSON.stringify(id.slice(0, 80))}: expected 64 hex digits, a dot and the number of parts`);
      const settings = settingsOf(options, command);
      const deleted = await withNode(settings, targetOf(options), secondsToMs(options.joinTimeout), (client) => client.json<{ contentId: string; deleted: boolean }>('DELETE', `/v1/content/${id}`));
      print(options, deleted, () => [`deleted ${deleted.contentId}`]);
    });
}

export function getCommand(): Command {
  return withClientOptions(withNodeOptions(new Command('get')))
    .description('fetch content by id, verified, to a file (-o) or stdout')
    .argument('<id>', 'the content id that put printed')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--join-timeout <seconds>', 'with no node running: how long the short-lived node waits for a first peer', number, 10)
    .action(async (id: string, options: CommandOptions & { output?: string }, command: Command) => {
      if (!contentIdRegExp.test(id)) throw new CommandError('INVALID_ARGUMENT', `invalid content id ${JSON.stringify(id.slice(0, 80))}: expected 64 hex digits, a dot and the number of parts`);
      if (options.json && options.output === undefined) throw new CommandError('USAGE', '--json needs -o FILE (the content itself would go to stdout)');
      const settings = settingsOf(options, command);
      const bytes = await withNode(settings, targetOf(options), secondsToMs(options.joinTimeout), (client) => download(client, id, options.output));
      if (options.output !== undefined) print(options, { contentId: id, bytes, file: options.output }, () => [`${bytes} bytes written to ${options.output}`]);
    });
}

/** Into a temporary file renamed at the end, so a failed download leaves no partial file under the name. */
async function download(client: ApiClient, id: string, output: string | undefined): Promise<number> {
  if (output === undefined) return client.download(`/v1/content/${id}`, stdoutWithoutEnd());
  const partial = `${output}.partial-${process.pid}`;
  try {
    const bytes = await client.download(`/v1/content/${id}`, createWriteStream(partial, { mode: 0o644 }), progressBar('fetching'));
    renameSync(partial, output);
    return bytes;
  } finally {
    rmSync(partial, { force: true });
  }
}

/** stdout as a pipeline's end: it keeps the pipeline's backpressure and is never closed. */
function stdoutWithoutEnd(): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (process.stdout.write(chunk)) callback();
      else process.stdout.once('drain', () => callback());
    },
  });
}

export function searchCommand(): Command {
  return withClientOptions(withNodeOptions(new Command('search')))
    .description('find content by keywords (accents and case ignored, words under 3 characters dropped), best matches first')
    .argument('<words...>', 'the words to look for')
    .option('--limit <count>', 'at most this many results', number, 100)
    .option('--join-timeout <seconds>', 'with no node running: how long the short-lived node waits for a first peer', number, 10)
    .action(async (words: string[], options: CommandOptions & { limit: number }, command: Command) => {
      const query = new URLSearchParams([...words.map((word) => ['word', word]), ['limit', String(options.limit)]]);
      const settings = settingsOf(options, command);
      const reply = await withNode(settings, targetOf(options), secondsToMs(options.joinTimeout), (client) => client.json<SearchReply>('GET', `/v1/search?${query.toString()}`));
      print(options, reply, () => (reply.results.length === 0 ? [`nothing found for ${reply.words.join(' ')}`] : reply.results.map((result) => `${result.contentId}  ${result.matched.join(' ')}`)));
    });
}

interface SearchReply {
  words: string[];
  results: Array<{ contentId: string; matched: string[]; holders: string[] }>;
}

export function peersCommand(): Command {
  return withClientOptions(withDataDirOptions(new Command('peers')))
    .description('the known hosts of the running node, with quality, class and Ambassador flag')
    .action(async (options: CommandOptions, command: Command) => {
      const client = requireRunningNode(settingsOf(options, command), targetOf(options));
      const report = await client.json<PeersReply>('GET', '/v1/peers');
      print(options, report, () => [
        `${report.peers.length} of ${report.capacity} known hosts, diversity ${report.diversity.toFixed(2)}`,
        ...table(
          ['ID', 'ADDRESS', 'CLASS', 'AMBASSADOR', 'FAR', 'UPTIME', 'FREE STORAGE'],
          report.peers.map((peer) => [
            peer.id.slice(0, 12),
            peer.address,
            peer.hostClass === null ? '?' : String(peer.hostClass),
            peer.ambassador ? 'yes' : 'no',
            peer.far ? 'yes' : 'no',
            peer.quality ? `${Math.round(peer.quality.uptimeMs / 1000)} s` : '?',
            peer.quality ? `${(peer.quality.availableStorageBytes / 1024 / 1024).toFixed(1)} MiB` : '?',
          ]),
        ),
      ]);
    });
}

interface PeersReply {
  capacity: number;
  diversity: number;
  peers: Array<{ id: string; address: string; hostClass: number | null; ambassador: boolean; far: boolean; quality: { uptimeMs: number; availableStorageBytes: number } | null }>;
}

export function groupsCommand(): Command {
  return withClientOptions(withDataDirOptions(new Command('groups')))
    .description('the Peer Content Groups of the running node')
    .action(async (options: CommandOptions, command: Command) => {
      const client = requireRunningNode(settingsOf(options, command), targetOf(options));
      const reply = await client.json<{ groups: Array<{ key: string; state: string; target: number; leader: string; members: Array<{ status: string }> }> }>('GET', '/v1/groups');
      print(options, reply, () => [
        `${reply.groups.length} groups`,
        ...table(
          ['BLOCK', 'STATE', 'ALIVE/TARGET', 'LEADER'],
          reply.groups.map((group) => [
            `${group.key.slice(0, 12)}…${group.key.slice(group.key.indexOf('.'))}`,
            group.state,
            `${group.members.filter((member) => member.status === 'alive').length}/${group.target}`,
            group.leader.slice(0, 12),
          ]),
        ),
      ]);
    });
}

export function statusCommand(): Command {
  return withClientOptions(withDataDirOptions(new Command('status')))
    .description('the running node: id, address, known hosts, storage')
    .option('--wait <seconds>', 'wait up to this long for a node to run on the data directory and know a peer', number)
    .action(async (options: CommandOptions & { wait?: number }, command: Command) => {
      const settings = settingsOf(options, command);
      const status = options.wait === undefined ? await statusOf(requireRunningNode(settings, targetOf(options))) : await waitForStatus(settings, targetOf(options), secondsToMs(options.wait));
      print(options, status, () => [
        `node ${status.nodeId} (process ${status.pid})`,
        `listening on ${status.address}, network "${status.networkId}", up ${Math.round(status.uptimeMs / 1000)} s`,
        `known hosts ${status.knownHosts} of ${status.knownHostsCapacity}, ${status.openConnections} connections open`,
        `storage ${status.storage.blocks} blocks in ${status.storage.groups} groups, ${mib(status.storage.usedBytes)} of ${mib(status.storage.capacityBytes)} MiB used`,
      ]);
    });
}

interface StatusReply {
  nodeId: string;
  pid: number;
  address: string;
  networkId: string;
  uptimeMs: number;
  knownHosts: number;
  knownHostsCapacity: number;
  openConnections: number;
  storage: { blocks: number; groups: number; usedBytes: number; capacityBytes: number };
}

function statusOf(client: ApiClient): Promise<StatusReply> {
  return client.json<StatusReply>('GET', '/v1/status');
}

/** For scripts that start nodes in the background: returns once the node runs and knows a host. */
async function waitForStatus(settings: Settings, target: Target, timeoutMs: number): Promise<StatusReply> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const status = await statusOf(requireRunningNode(settings, target));
      if (status.knownHosts > 0) return status;
      last = new CommandError('NO_PEERS', `the node on ${settings.dataDir} runs but knows no host yet`);
    } catch (error) {
      if (!(error instanceof CommandError) || error.code !== 'NO_NODE') throw error;
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw last;
}

export function stopCommand(): Command {
  return withClientOptions(withDataDirOptions(new Command('stop')))
    .description('ask the running node to leave gracefully (its blocks are handed over) and wait until it is gone')
    .action(async (options: CommandOptions, command: Command) => {
      const settings = settingsOf(options, command);
      const client = requireRunningNode(settings, targetOf(options));
      const { pid } = await statusOf(client);
      await client.json('POST', '/v1/stop', { graceful: true });
      const deadline = Date.now() + stopWaitMs;
      while (isAlive(pid)) {
        if (Date.now() > deadline) throw new CommandError('TIMEOUT', `process ${pid} is still running ${stopWaitMs / 1000} s after it was asked to stop`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      print(options, { stopped: true, pid }, () => [`node (process ${pid}) stopped`]);
    });
}

function waitingText(replicas: number): string {
  return `waiting for ${replicas} ${replicas === 1 ? 'copy' : 'copies'} of every block…`;
}

function sizeOf(file: string): number {
  try {
    const stats = statSync(file);
    if (!stats.isFile()) throw new CommandError('INVALID_ARGUMENT', `${file} is not a file`);
    return stats.size;
  } catch (error) {
    if (error instanceof CommandError) throw error;
    throw new CommandError('INVALID_ARGUMENT', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function secondsToMs(seconds: number | undefined): number {
  if (seconds === undefined || !(seconds > 0)) throw new CommandError('USAGE', 'a time in seconds must be above 0');
  return seconds * 1000;
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column] as number)).join('  ').trimEnd());
}
