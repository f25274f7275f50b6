import cliProgress from 'cli-progress';
import type { TransferProgress } from './client.js';

/** Transfers smaller than this finish before a bar would be worth drawing. */
const minimumBarBytes = 1024 * 1024;

/**
 * A progress bar on stderr when it is a terminal and the transfer is large;
 * nothing otherwise. `afterwards` is shown once the bytes are through (a durable write still waits).
 */
export function progressBar(label: string, afterwards?: string): TransferProgress | undefined {
  if (!process.stderr.isTTY) return undefined;
  let bar: cliProgress.SingleBar | undefined;
  let doneBytes = 0;
  return {
    start(totalBytes) {
      if (totalBytes === undefined || totalBytes < minimumBarBytes) return;
      bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: `${label} [{bar}] {percentage}% | {value}/{total} MiB`, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(mebibytes(totalBytes), 0);
    },
    advance(bytes) {
      doneBytes += bytes;
      bar?.update(mebibytes(doneBytes));
    },
    finish() {
      if (!bar) return;
      bar.stop();
      bar = undefined;
      if (afterwards) process.stderr.write(`${afterwards}\n`);
    },
  };
}

function mebibytes(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 100) / 100;
}
