/**
 * Process signals belong to the application, not to the nodes it runs: one
 * pair of SIGINT/SIGTERM listeners per process, however many nodes or
 * handlers, so 200 nodes in one process raise no MaxListenersExceededWarning.
 */
type ShutdownHandler = () => Promise<void> | void;

const handlers = new Set<ShutdownHandler>();
let installed = false;

/**
 * Runs every registered handler once, on the first SIGINT or SIGTERM (a graceful
 * leave: `() => node.stop()`), then removes the process listeners, so a second
 * signal gets Node's default handling and ends a stuck leave. The library never
 * ends the process itself: the application exits when its work is done (or sets
 * `process.exitCode`). Returns an unsubscribe function.
 */
export function onShutdownSignal(handler: ShutdownHandler): () => void {
  handlers.add(handler);
  if (!installed) {
    installed = true;
    process.once('SIGINT', signalled);
    process.once('SIGTERM', signalled);
  }
  return () => {
    handlers.delete(handler);
    if (handlers.size === 0) uninstall();
  };
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('SIGINT', signalled);
  process.off('SIGTERM', signalled);
}

function signalled(): void {
  uninstall();
  const running = [...handlers];
  handlers.clear();
  for (const handler of running) {
    Promise.resolve()
      .then(handler)
      .catch((error: unknown) => {
        process.exitCode = 1;
        process.stderr.write(`shutdown failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      });
  }
}
