import type { Runtime } from '../runtime/types.js';
import type { Dialer } from './service.js';

/**
 * The runtime as the connection pool sees it: `connect` goes to the first
 * dialer that takes the address (a relay circuit, say), else to the runtime.
 * `dialers` is read at each dial, so dialers added later count.
 */
export function withDialers(runtime: Runtime, dialers: readonly Dialer[]): Runtime {
  return {
    kind: runtime.kind,
    disk: runtime.disk,
    random: runtime.random,
    now: () => runtime.now(),
    setTimer: (delayMs, callback) => runtime.setTimer(delayMs, callback),
    listen: (options, onStream) => runtime.listen(options, onStream),
    secure: (carrier, options) => runtime.secure(carrier, options),
    connect: (address, options) => (dialers.find((dialer) => dialer.matches(address)) ?? runtime).connect(address, options),
    openDatagramSocket: (options) => runtime.openDatagramSocket(options),
    totalMemoryBytes: () => runtime.totalMemoryBytes(),
  };
}
