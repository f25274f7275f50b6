/**
 * The real runtime: the monotonic clock, node timers, node:crypto randomness,
 * TLS 1.3 streams over TCP and over relay circuits (node:tls), multicast UDP (node:dgram) and the disk (node:fs, LMDB).
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { openDatagramSocket } from './real/datagram.js';
import { createRealDisk } from './real/disk.js';
import { createRealRandom } from './real/random.js';
import { secure } from './real/secure-carrier.js';
import { connect, listen } from './real/tcp.js';
import type { Runtime, TimerHandle } from './types.js';

/** node's setTimeout treats longer delays as 1 ms, so longer timers are chained. */
const maxTimerDelayMs = 2 ** 31 - 1;

/**
 * Runs `callback` once `now()` has advanced by at least `delayMs`. node's timers
 * run on a millisecond loop clock and can fire a fraction of a millisecond early
 * by `performance.now()`; re-arming for the remainder keeps the two consistent.
 */
function setTimer(delayMs: number, callback: () => void): TimerHandle {
  const dueAt = performance.now() + Math.max(0, delayMs);
  let timeout: NodeJS.Timeout;
  const arm = (waitMs: number): void => {
    timeout = setTimeout(() => {
      const remainingMs = dueAt - performance.now();
      if (remainingMs > 0) arm(remainingMs);
      else callback();
    }, Math.min(Math.ceil(waitMs), maxTimerDelayMs));
  };
  arm(Math.max(0, delayMs));
  return { cancel: () => clearTimeout(timeout) };
}

export function createRealRuntime(): Runtime {
  return {
    kind: 'real',
    now: () => performance.now(),
    setTimer,
    random: createRealRandom(),
    listen,
    connect,
    secure,
    openDatagramSocket,
    disk: createRealDisk(),
    totalMemoryBytes: () => os.totalmem(),
  };
}
