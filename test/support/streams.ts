import type { Stream } from '../../src/runtime/types.js';

export interface Collected {
  done: Promise<{ data: Buffer; error: Error | undefined }>;
  closes(): number;
}

/** Starts a stream and collects its bytes until onClose. */
export function collect(stream: Stream): Collected {
  const chunks: Uint8Array[] = [];
  let closeCount = 0;
  const done = new Promise<{ data: Buffer; error: Error | undefined }>((resolve) => {
    stream.start({
      onData: (chunk) => chunks.push(chunk),
      onClose: (error) => {
        closeCount += 1;
        resolve({ data: Buffer.concat(chunks), error });
      },
    });
  });
  return { done, closes: () => closeCount };
}
