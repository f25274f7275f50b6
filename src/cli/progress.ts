import cliProgress from 'cli-progress';
import type { TransferProgress } from './client.js';

/** Transfers smaller than this finish before a bar would be worth drawing. */
const minimumBarBytes = 1024 * 1024;

/** A progress bar on stderr when it is a terminal and the transfer is large; nothing otherwise. */
export function progressBar(label: string, enabled: boolean): TransferProgress | undefined {
  if (!enabled || !process.stderr.isTTY) return undefined;
  let bar: cliProgress.SingleBar | undefined;
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
      bar?.increment(mebibytes(bytes));
    },
    finish() {
      bar?.stop();
      bar = undefined;
    },
  };
}

function mebibytes(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 100) / 100;
}
