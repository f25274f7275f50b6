import { createNode, formatAddress, onShutdownSignal } from '../../src/index.js';

// Loopback, to try it on one machine: `node hello.js`, then `node hello.js <address it printed>`.
const node = await createNode({ host: '127.0.0.1', memoryMB: 64, bootstrap: process.argv.slice(2) });

// A server behaviour: answers the "recho" route, like an HTTP handler.
node.route('recho', (_node, payload) => Uint8Array.from(payload).reverse());

// A client behaviour: runs from spawn until stop, with an AbortSignal.
node.behaviour(async (node, signal) => {
  while (!signal.aborted) {
    for (const host of node.knownHosts.list()) {
      const reply = await node.request(host.address, 'recho', new TextEncoder().encode('hello'), { timeoutMs: 5_000 }).catch((error: Error) => error);
      console.log(`${host.id.slice(0, 8)} answered ${reply instanceof Error ? reply.message : new TextDecoder().decode(reply)}`);
    }
    await node.sleep(2_000, signal);
  }
});

await node.spawn(); // listens, runs the services (storage by default), joins the network
console.log(`listening on ${formatAddress(node.address)}`);
onShutdownSignal(() => node.stop()); // Ctrl-C: hand data over, leave, let the process end

// The default services are typed: node.services.storage keeps data alive in Peer Content Groups.
const contentId = await node.services.storage.store(new TextEncoder().encode('kept by the network'), { keywords: ['hello'] });
console.log(`stored ${contentId}`);
