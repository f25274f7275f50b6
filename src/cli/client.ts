import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CommandError } from '../daemon/failures.js';

/** The largest JSON reply read (a full peer list is a few tens of kilobytes). */
const maxJsonReplyBytes = 8 * 1024 * 1024;

export interface TransferProgress {
  start(totalBytes: number | undefined): void;
  advance(bytes: number): void;
  /** The bytes are all sent or received. */
  finish(): void;
}

/** Talks to a node's control API (docs/API.md) with its bearer token. */
export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  async json<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const response = await this.send(method, path, text === undefined ? {} : { 'content-type': 'application/json' }, (outgoing) => outgoing.end(text));
    return (await readJsonReply(response)) as T;
  }

  /** Streams `source` as the body, reporting the bytes as they go out; resolves with the JSON reply. */
  async upload<T>(path: string, source: Readable, sizeBytes: number | undefined, progress?: TransferProgress): Promise<T> {
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
    if (sizeBytes !== undefined) headers['content-length'] = sizeBytes;
    progress?.start(sizeBytes);
    const response = await this.send('POST', path, headers, (outgoing) => {
      source.on('data', (chunk: Buffer) => progress?.advance(chunk.byteLength));
      pipeline(source, outgoing).then(
        () => progress?.finish(),
        (error: unknown) => outgoing.destroy(error as Error),
      );
    });
    return (await readJsonReply(response)) as T;
  }

  /** Streams the reply body into `sink`; a non-2xx reply becomes its `CommandError`. */
  async download(path: string, sink: Writable, progress?: TransferProgress): Promise<number> {
    const response = await this.send('GET', path, {}, (outgoing) => outgoing.end());
    if ((response.statusCode ?? 500) >= 300) await readJsonReply(response);
    const length = Number(response.headers['content-length']);
    progress?.start(Number.isFinite(length) ? length : undefined);
    let received = 0;
    response.on('data', (chunk: Buffer) => {
      received += chunk.byteLength;
      progress?.advance(chunk.byteLength);
    });
    await pipeline(response, sink);
    progress?.finish();
    if (Number.isFinite(length) && received !== length) throw new CommandError('CONNECTION_CLOSED', `the node sent ${received} of ${length} bytes`);
    return received;
  }

  private send(method: string, path: string, headers: Record<string, string | number>, write: (outgoing: ReturnType<typeof httpRequest>) => void): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(new URL(path, this.url), { method, headers: { ...headers, authorization: `Bearer ${this.token}` } }, resolve);
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET'
            ? new CommandError('NO_NODE', `no node answers at ${this.url} (${error.code})`, { cause: error })
            : error,
        );
      });
      write(outgoing);
    });
  }
}

/** The reply as JSON; an error reply (`{ error: { code, message } }`) is thrown as a `CommandError`. */
async function readJsonReply(response: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    bytes += chunk.byteLength;
    if (bytes > maxJsonReplyBytes) throw new CommandError('PROTOCOL_ERROR', `the node's reply is larger than ${maxJsonReplyBytes} bytes`);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new CommandError('PROTOCOL_ERROR', `the node answered ${response.statusCode} with a body that is not JSON`);
  }
  if ((response.statusCode ?? 500) >= 300) {
    const error = (body as { error?: { code?: unknown; message?: unknown } }).error;
    // A code this version does not know only changes which exit code the command ends with (1).
    const code = typeof error?.code === 'string' ? (error.code as ConstructorParameters<typeof CommandError>[0]) : 'API_ERROR';
    throw new CommandError(code, typeof error?.message === 'string' ? error.message.slice(0, 1000) : `HTTP ${response.statusCode}`);
  }
  return body;
}
