#!/usr/bin/env node
/**
 * Peer-to-peer chat on one LAN: every node finds the others by discovery (or
 * --peer), learns their nicknames, and sends each line typed straight to every
 * peer it knows. Join and leave notices come from the known-host list.
 *
 *   terminal 1:  node dist/examples/chat/chat.js --nick alice
 *   terminal 2:  node dist/examples/chat/chat.js --nick bob
 */
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError } from 'commander';
import { ButterError, createNode, formatAddress, onShutdownSignal, type ButterNode } from '../../src/index.js';
import { chatRoutes, helloCodec, leaveCodec, maxMessageLength, maxNicknameLength, messageCodecOfChat, printable } from './messages.js';

function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

function nicknameOption(value: string): string {
  if (value.length < 1 || value.length > maxNicknameLength || printable(value) !== value) {
    throw new InvalidArgumentError(`expected 1 to ${maxNicknameLength} printable characters`);
  }
  return value;
}

const program = new Command('chat')
  .description('peer-to-peer chat: lines go straight to every peer found by discovery')
  .requiredOption('-n, --nick <name>', 'your nickname', nicknameOption)
  .option('-p, --port <port>', 'TCP port to listen on (0 = any)', integer, 0)
  .option('--host <address>', 'interface to listen on', '0.0.0.0')
  .option('--peer <host:port...>', 'hosts to know from the start', [])
  .option('--network <id>', 'network id: chats with other ids ignore this one', 'butter-chat')
  .option('--no-discovery', 'do not look for peers by LAN multicast')
  .parse();

const options = program.opts<{ nick: string; port: number; host: string; peer: string[]; network: string; discovery: boolean }>();

/** Peers met so far, by node id, with their nickname; bounded by the known-host capacity. */
const nicknames = new Map<string, string>();
const empty = new Uint8Array(0);

const terminal = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
terminal.setPrompt(`${options.nick}> `);

/** Prints a line above the prompt, so incoming messages do not tear what is being typed. */
function show(line: string): void {
  const time = new Date().toISOString().slice(11, 16);
  if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
  process.stdout.write(`[${time}] ${line}\n`);
  if (process.stdout.isTTY) terminal.prompt(true);
}

function nicknameOf(id: string): string {
  return nicknames.get(id) ?? id.slice(0, 8);
}

function met(node: ButterNode, id: string, nick: string): void {
  if (nicknames.has(id) || nicknames.size >= node.knownHosts.capacity) return;
  nicknames.set(id, nick);
  show(`* ${printable(nick)} joined`);
}

function gone(id: string): void {
  const nick = nicknames.get(id);
  if (nick === undefined) return;
  nicknames.delete(id);
  show(`* ${printable(nick)} left`);
}

/** Says hello to each newly known host and learns its nickname; a host dropped from the list has left. */
function followKnownHosts(node: ButterNode): void {
  const greeting = helloCodec.encode({ nick: options.nick });
  const greet = async (id: string) => {
    try {
      met(node, id, helloCodec.decode(await node.request(id, chatRoutes.hello, greeting, { timeoutMs: 5_000 })).nick);
    } catch {
      // Not a chat node, or gone already: the next change of the list tries again.
    }
  };
  const pending = new Set<string>();
  node.knownHosts.onChange(() => {
    const known = new Set(node.knownHosts.list().map((host) => host.id));
    for (const id of known) {
      if (nicknames.has(id) || pending.has(id)) continue;
      pending.add(id);
      void greet(id).finally(() => pending.delete(id));
    }
    for (const id of [...nicknames.keys()]) if (!known.has(id)) gone(id);
  });
}

async function sendLines(node: ButterNode, signal: AbortSignal): Promise<void> {
  signal.addEventListener('abort', () => terminal.close(), { once: true });
  terminal.prompt();
  for await (const line of terminal) {
    const text = line.trim().slice(0, maxMessageLength);
    if (text.length > 0) {
      const peers = [...nicknames.keys()];
      if (peers.length === 0) show('(nobody here yet)');
      const payload = messageCodecOfChat.encode({ nick: options.nick, text });
      await Promise.all(
        peers.map((id) => node.notify(id, chatRoutes.message, payload).catch(() => show(`! ${printable(nicknameOf(id))} did not get it`))),
      );
    }
    terminal.prompt();
  }
}

async function main(): Promise<void> {
  const node = await createNode({
    port: options.port,
    host: options.host,
    memoryMB: 64,
    bootstrap: options.peer,
    networkId: options.network,
    discovery: { enabled: options.discovery },
    services: {}, // chat stores nothing
  });
  node
    .route(chatRoutes.hello, (self, payload, context) => {
      met(self, context.peer.id, helloCodec.decode(payload).nick);
      return helloCodec.encode({ nick: options.nick });
    })
    .route(chatRoutes.message, (_self, payload, context) => {
      const message = messageCodecOfChat.decode(payload);
      // The nickname the peer said hello with wins over the one it puts in a message.
      show(`<${printable(nicknames.get(context.peer.id) ?? message.nick)}> ${printable(message.text)}`);
      return empty;
    })
    .route(chatRoutes.leave, (_self, payload, context) => {
      leaveCodec.decode(payload);
      gone(context.peer.id);
      return empty;
    })
    .behaviour(sendLines);
  followKnownHosts(node);
  await node.spawn();
  show(`chat node ${node.id.slice(0, 12)} listening on ${formatAddress(node.address)} as ${options.nick}; type a line and press enter`);
  onShutdownSignal(async () => {
    const farewell = leaveCodec.encode({ nick: options.nick });
    await Promise.allSettled([...nicknames.keys()].map((id) => node.notify(id, chatRoutes.leave, farewell)));
    await node.stop();
  });
}

main().catch((error: unknown) => {
  const known = error instanceof ButterError;
  console.error(`chat: ${known ? error.message : String(error)}`);
  if (!known) console.error((error as Error).stack);
  process.exitCode = known ? 2 : 1;
  terminal.close();
});
