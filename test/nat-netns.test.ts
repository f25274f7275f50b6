/**
 * NAT traversal behind real NAT: two private LANs, each behind a router
 * namespace that masquerades (nftables), router A also running miniupnpd (real
 * UPnP IGD and NAT-PMP); a public namespace with two Ambassadors. Node A1 maps
 * its port on router A and is reached directly; A2 (same LAN, no mapping) and
 * B1 (router B has no UPnP) are reached through a relay. Killing one
 * Ambassador, the relayed peers recover through the other. Every address lives
 * in namespaces this test creates. Needs root, iproute2, nftables and
 * miniupnpd (scripts/setup.sh installs them as root); skipped, saying why, otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const nodeScript = fileURLToPath(new URL('./fixtures/nat-node.js', import.meta.url));
/** Short and unique per run: interface names are limited to 15 characters. */
const tag = `bn${process.pid.toString(36)}`;
const ns = (name: string) => `${tag}${name}`;
const namespaces = ['pub', 'ra', 'rb', 'la', 'lb'].map(ns);
const ambassadorHosts = ['11.0.0.1', '11.0.0.2'];
const routerWan = { a: '11.0.0.10', b: '11.0.0.20' };
const lanHost = { a: '10.0.1.2', b: '10.0.2.2' };
const ambassadorPort = 4100;

function which(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (CI runs as root)';
  const missing = ['ip', 'nft', 'miniupnpd'].filter((tool) => !which(tool));
  return missing.length > 0 ? `missing ${missing.join(', ')}: run scripts/setup.sh as root` : undefined;
}

function run(...args: string[]): void {
  execFileSync(args[0] as string, args.slice(1), { stdio: ['pipe', 'ignore', 'pipe'], timeout: 10_000 });
}

function inNs(name: string, ...args: string[]): void {
  run('ip', 'netns', 'exec', ns(name), ...args);
}

function tearDown(): void {
  for (const name of namespaces) {
    try {
      run('ip', 'netns', 'delete', name); // takes its veth ends and every process-less route with it
    } catch {
      // Already gone.
    }
  }
}

/** Masquerade towards the WAN, plus the empty chains miniupnpd fills with its redirects. */
function routerRules(wan: string): string {
  return `table inet filter {
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; oifname "${wan}" masquerade; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
`;
}

function setUp(workDir: string): void {
  tearDown();
  for (const name of namespaces) {
    run('ip', 'netns', 'add', name);
    run('ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  }
  inNs('pub', 'ip', 'link', 'add', 'br0', 'type', 'bridge');
  inNs('pub', 'ip', 'link', 'set', 'br0', 'up');
  for (const host of ambassadorHosts) inNs('pub', 'ip', 'addr', 'add', `${host}/24`, 'dev', 'br0');
  for (const lan of ['a', 'b'] as const) {
    const wan = ns(`${lan}w`);
    const lanSide = ns(`${lan}l`);
    run('ip', 'link', 'add', wan, 'type', 'veth', 'peer', 'name', ns(`${lan}wp`));
    run('ip', 'link', 'set', wan, 'netns', ns(`r${lan}`));
    run('ip', 'link', 'set', ns(`${lan}wp`), 'netns', ns('pub'));
    inNs('pub', 'ip', 'link', 'set', ns(`${lan}wp`), 'master', 'br0', 'up');
    run('ip', 'link', 'add', lanSide, 'type', 'veth', 'peer', 'name', ns(`${lan}h`));
    run('ip', 'link', 'set', lanSide, 'netns', ns(`r${lan}`));
    run('ip', 'link', 'set', ns(`${lan}h`), 'netns', ns(`l${lan}`));
    inNs(`r${lan}`, 'ip', 'addr', 'add', `${routerWan[lan]}/24`, 'dev', wan);
    inNs(`r${lan}`, 'ip', 'link', 'set', wan, 'up');
    inNs(`r${lan}`, 'ip', 'addr', 'add', `10.0.${lan === 'a' ? 1 : 2}.1/24`, 'dev', lanSide);
    inNs(`r${lan}`, 'ip', 'link', 'set', lanSide, 'up');
    inNs(`r${lan}`, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    const rules = path.join(workDir, `router-${lan}.nft`);
    writeFileSync(rules, routerRules(wan));
    inNs(`r${lan}`, 'nft', '-f', rules);
    inNs(`l${lan}`, 'ip', 'addr', 'add', `${lanHost[lan]}/24`, 'dev', ns(`${lan}h`));
    inNs(`l${lan}`, 'ip', 'link', 'set', ns(`${lan}h`), 'up');
    inNs(`l${lan}`, 'ip', 'route', 'add', 'default', 'via', `10.0.${lan === 'a' ? 1 : 2}.1`);
    // SSDP discovery of the gateway is multicast on the LAN.
    inNs(`l${lan}`, 'ip', 'route', 'add', '239.0.0.0/8', 'dev', ns(`${lan}h`));
  }
}

function startMiniupnpd(workDir: string): ChildProcess {
  const config = path.join(workDir, 'miniupnpd.conf');
  writeFileSync(
    config,
    [
      `ext_ifname=${ns('aw')}`,
      `listening_ip=${ns('al')}`,
      'port=0',
      'enable_natpmp=yes',
      'enable_upnp=yes',
      'secure_mode=yes',
      'system_uptime=yes',
      'uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b',
      'allow 1024-65535 10.0.1.0/24 1024-65535',
      'deny 0-65535 0.0.0.0/0 0-65535',
      '',
    ].join('\n'),
  );
  return spawn('ip', ['netns', 'exec', ns('ra'), 'miniupnpd', '-d', '-f', config, '-P', path.join(workDir, 'miniupnpd.pid')], { stdio: 'ignore' });
}

interface Report {
  id: string;
  status: {
    reachable: boolean | undefined;
    relays: Array<{ id: string }>;
    ambassadors: string[];
    mapping?: { state: string; external?: { host: string; port: number } };
    publicAddress?: { host: string };
  };
  known: Array<[string, string, number]>;
}

class NodeProcess {
  report: Report | undefined;
  stderr = '';
  private seq = 0;
  private readonly waiting = new Map<number, (answer: { value?: unknown; error?: string }) => void>();
  readonly child: ChildProcess;

  constructor(namespace: string, settings: object) {
    this.child = spawn('ip', ['netns', 'exec', ns(namespace), process.execPath, nodeScript, JSON.stringify(settings)], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let message: Report & { seq?: number; value?: unknown; error?: string };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return;
      }
      if (message.seq !== undefined) this.waiting.get(message.seq)?.(message);
      else this.report = message;
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 10_000) this.stderr += chunk.toString();
    });
  }

  get id(): string {
    return (this.report as Report).id;
  }

  /** Where this node knows `peer`, if it does. */
  addressOf(peer: NodeProcess): { host: string; port: number } | undefined {
    const entry = this.report?.known.find(([id]) => id === peer.report?.id);
    return entry ? { host: entry[1], port: entry[2] } : undefined;
  }

  command(command: object): Promise<{ value?: unknown; error?: string }> {
    const seq = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(seq, resolve);
      this.child.stdin?.write(`${JSON.stringify({ ...command, seq })}\n`);
    });
  }

  async echo(peer: NodeProcess, address: { host: string; port: number }, hex: string): Promise<{ value?: unknown; error?: string }> {
    return this.command({ op: 'echo', id: peer.id, address, hex });
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    return exited;
  }
}

async function waitFor(what: string, condition: () => boolean, timeoutMs: number, state: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${timeoutMs} ms; state: ${state()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const reason = skipReason();

describe('NAT traversal between network namespaces behind real NAT', { skip: reason }, () => {
  const processes: NodeProcess[] = [];
  let miniupnpd: ChildProcess | undefined;
  let workDir = '';

  before(() => {
    workDir = mkdtempSync(path.join(os.tmpdir(), `butter-${tag}-`));
    setUp(workDir);
    miniupnpd = startMiniupnpd(workDir);
  });

  after(async () => {
    await Promise.all(processes.map((node) => node.stop('SIGKILL')));
    miniupnpd?.kill('SIGKILL');
    tearDown();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('nodes on two NATed LANs meet through the Ambassadors: directly where UPnP mapped a port, relayed where not; relayed peers survive an Ambassador', { timeout: 120_000 }, async () => {
    const bootstrap = ambassadorHosts.map((host) => `${host}:${ambassadorPort}`);
    const [amb1, amb2] = ambassadorHosts.map((host) => new NodeProcess('pub', { host, port: ambassadorPort, ambassador: true, bootstrap: [], portMapping: false })) as [NodeProcess, NodeProcess];
    const a1 = new NodeProcess('la', { host: lanHost.a, port: 4000, ambassador: false, bootstrap, portMapping: true });
    const a2 = new NodeProcess('la', { host: lanHost.a, port: 4001, ambassador: false, bootstrap, portMapping: false });
    const b1 = new NodeProcess('lb', { host: lanHost.b, port: 4000, ambassador: false, bootstrap, portMapping: false });
    processes.push(amb1, amb2, a1, a2, b1);
    const state = () =>
      JSON.stringify(processes.map((node) => ({ id: node.report?.id.slice(0, 8), status: node.report?.status, known: node.report?.known.map(([id, host, port]) => `${id.slice(0, 8)}@${host.slice(-14)}:${port}`), stderr: node.stderr.slice(0, 400) })));

    await waitFor('A1 maps its port on router A and is found reachable', () => a1.report?.status.reachable === true, 40_000, state);
    assert.deepEqual(a1.report?.status.mapping, { state: 'mapped', external: { host: routerWan.a, port: 4000 } });
    await waitFor('A2 and B1 hold reservations with both Ambassadors', () => [a2, b1].every((node) => node.report?.status.reachable === false && node.report.status.relays.length === 2), 40_000, state);
    // The Ambassadors' observations and the reservations arrive independently: wait for both.
    await waitFor('two Ambassadors agree on B1\'s public IP', () => Boolean(b1.report?.status.publicAddress), 20_000, state);
    assert.equal(b1.report?.status.publicAddress?.host, routerWan.b, 'two Ambassadors agree on the public IP');

    // Directly where mapping works: B1 was introduced to A1 at router A's mapped port.
    await waitFor('B1 knows A1 at its mapped address', () => b1.addressOf(a1)?.host === routerWan.a, 30_000, state);
    const direct = await b1.echo(a1, b1.addressOf(a1) as { host: string; port: number }, 'cafe');
    assert.equal(direct.value, 'cafe', direct.error);

    // Relayed where it does not: B1 and A2 both sit behind NAT without a mapping.
    await waitFor('B1 knows A2 at a relayed address', () => b1.addressOf(a2)?.host.startsWith(`${a2.id}@`) === true, 30_000, state);
    const relayed = await b1.echo(a2, b1.addressOf(a2) as { host: string; port: number }, 'beef');
    assert.equal(relayed.value, 'beef', relayed.error);

    // Stored content crosses the NATs too: B1 stores, A2 (relayed) finds and verifies it.
    const data = Buffer.alloc(12_000, 7).toString('hex');
    const stored = await b1.command({ op: 'store', hex: data });
    assert.equal(typeof stored.value, 'string', stored.error);
    // Found once the holders' announcements and A2's walk meet: a bounded number of tries.
    let fetched = await a2.command({ op: 'fetch', contentId: stored.value });
    for (let attempt = 0; attempt < 20 && fetched.value !== data; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      fetched = await a2.command({ op: 'fetch', contentId: stored.value });
    }
    assert.equal(fetched.value, data, fetched.error);

    // An Ambassador dies: the relayed peers keep only the other, and reach each other through it.
    await amb1.stop('SIGKILL');
    await waitFor('A2 and B1 register with the surviving Ambassador only', () => [a2, b1].every((node) => node.report?.status.ambassadors.join() === amb2.id), 30_000, state);
    await waitFor('B1 knows A2 through the surviving Ambassador', () => b1.addressOf(a2)?.host === `${a2.id}@${ambassadorHosts[1]}`, 30_000, state);
    // The connection through the dead Ambassador may still be closing when the new address is
    // known (its circuit ends once the relay link's loss is seen): a request on it fails with a
    // typed ConnectionClosedError, and the next one dials through the survivor. Bounded tries.
    let recovered = await b1.echo(a2, b1.addressOf(a2) as { host: string; port: number }, 'f00d');
    for (let attempt = 0; attempt < 10 && recovered.value !== 'f00d'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      recovered = await b1.echo(a2, b1.addressOf(a2) as { host: string; port: number }, 'f00d');
    }
    assert.equal(recovered.value, 'f00d', recovered.error);

    // A graceful stop removes the mapping from the router.
    const redirects = () => execFileSync('ip', ['netns', 'exec', ns('ra'), 'nft', 'list', 'chain', 'inet', 'filter', 'prerouting_miniupnpd'], { encoding: 'utf8', timeout: 10_000 });
    assert.match(redirects(), /dport 4000 dnat/, 'miniupnpd redirects the mapped port');
    await a1.stop('SIGTERM');
    assert.doesNotMatch(redirects(), /dnat/, 'the mapping is gone');
  });
});
