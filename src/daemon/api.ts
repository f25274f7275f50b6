import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ButterError } from '../errors.js';
import type { DefaultServices } from '../node/create.js';
import type { ButterNode } from '../node/node.js';
import { formatAddress } from '../runtime/types.js';
import { blockSizeBytes, contentIdPattern, maxKeywordLength, maxKeywords, maxParts } from '../storage/block.js';
import { maxReplicas } from '../storage/group-messages.js';
import { nameProblem } from '../storage/authorship.js';
import { maxSearchResults } from '../retrieval/keyword-search.js';
import { maxSearchWords, searchWords } from '../retrieval/keywords.js';
import { findContentBytes } from './content.js';
import { closeServer, listenOnLoopback } from './http.js';
import { CommandError, describeFailure, NoPeersError, noPeersHint, NotFoundError } from './failures.js';

/** The largest JSON request body: every JSON input is a handful of fields. */
export const maxJsonBodyBytes = 16 * 1024;
/** Content larger than this cannot be split into blocks at all. */
export const maxContentBytes = maxParts * blockSizeBytes;
/** Uploads held in memory at once (each up to the allocation): more wait their turn as 503s. */
const maxConcurrentUploads = 2;
/** Downloads are written in slices of this size, each after the socket drained the last. */
const downloadSliceBytes = 256 * 1024;
const loopbackNames = new Set(['127.0.0.1', 'localhost', '[::1]']);

export type QueryOutcome = 'found' | 'not_found' | 'failed';

export interface ApiComponents {
  node: ButterNode<DefaultServices>;
  token: string;
  /** Called after every content lookup, for the metrics. */
  onQuery?: (outcome: QueryOutcome, seconds: number) => void;
  /** Asked by POST /v1/stop, after the reply went out. */
  onStopRequested: (graceful: boolean) => void;
}

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

class HttpFailure extends CommandError {
  constructor(
    readonly status: number,
    code: ConstructorParameters<typeof CommandError>[0],
    message: string,
  ) {
    super(code, message);
  }
}

const putQuerySchema = Type.Object(
  {
    keyword: Type.Array(Type.String({ minLength: 1, maxLength: maxKeywordLength }), { maxItems: maxKeywords }),
    replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: maxReplicas })),
  },
  { additionalProperties: false },
);
const stopBodySchema = Type.Object({ graceful: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
const contentIdRegExp = new RegExp(contentIdPattern);

/**
 * The local control API (docs/API.md): HTTP on 127.0.0.1 only. Every request
 * is refused unless its Host is a loopback name, its Origin (when a browser
 * sends one) is this API itself, and it carries the bearer token; all three are
 * checked before a byte of the body is read.
 */
export async function startApi(components: ApiComponents, port: number): Promise<ApiServer> {
  let uploads = 0;
  const tokenDigest = digest(components.token);
  const server = createServer((request, response) => {
    void handle(request, response).catch((error: unknown) => {
      if (!(error instanceof ButterError || error instanceof CommandError)) components.node.logger.error({ err: error, url: request.url }, 'API request failed');
      fail(response, error);
    });
  });
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const listening = (server.address() as AddressInfo).port;
    refuseForeign(request, listening);
    checkToken(request.headers.authorization, tokenDigest);
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${listening}`);
    const route = `${request.method ?? 'GET'} ${url.pathname.replace(/^\/v1\/content\/[^/]+$/, '/v1/content/:id').replace(/^\/v1\/names\/[^/]+$/, '/v1/names/:name')}`;
    switch (route) {
      case 'GET /v1/status':
        return sendJson(response, 200, status(components.node));
      case 'GET /v1/peers':
        return sendJson(response, 200, peers(components.node));
      case 'GET /v1/groups':
        return sendJson(response, 200, { groups: components.node.services.storage.groups() });
      case 'POST /v1/content': {
        if (uploads >= maxConcurrentUploads) throw new HttpFailure(503, 'OVERLOADED', `${maxConcurrentUploads} uploads are in progress; try again when one ends`);
        uploads += 1;
        try {
          return sendJson(response, 201, await put(components.node, request, url.searchParams));
        } finally {
          uploads -= 1;
        }
      }
      case 'GET /v1/content/:id':
        return get(components, response, decodeURIComponent(url.pathname.slice('/v1/content/'.length)));
      case 'DELETE /v1/content/:id':
        return sendJson(response, 200, await remove(components.node, decodeURIComponent(url.pathname.slice('/v1/content/'.length))));
      case 'POST /v1/names/:name': {
        if (uploads >= maxConcurrentUploads) throw new HttpFailure(503, 'OVERLOADED', `${maxConcurrentUploads} uploads are in progress; try again when one ends`);
        uploads += 1;
        try {
          return sendJson(response, 201, await update(components.node, request, decodeURIComponent(url.pathname.slice('/v1/names/'.length)), url.searchParams));
        } finally {
          uploads -= 1;
        }
      }
      case 'GET /v1/search':
        return sendJson(response, 200, await search(components.node, url.searchParams));
      case 'POST /v1/stop': {
        const body = await readJson(request, stopBodySchema);
        response.once('finish', () => components.onStopRequested(body.graceful !== false));
        return sendJson(response, 202, { stopping: true, graceful: body.graceful !== false });
      }
      default:
        throw new HttpFailure(404, 'UNKNOWN_ENDPOINT', `no endpoint ${request.method} ${url.pathname}`);
    }
  };
  // Large uploads and durable writes take long; headers still have to come quickly.
  server.requestTimeout = 15 * 60_000;
  server.headersTimeout = 10_000;
  server.maxConnections = 64;
  const listening = await listenOnLoopback(server, port, 'control API');
  return { url: `http://127.0.0.1:${listening}`, port: listening, close: () => closeServer(server) };
}

/** DNS rebinding sends a foreign Host; a cross-site page sends its own Origin. */
function refuseForeign(request: IncomingMessage, port: number): void {
  const host = request.headers.host;
  if (host === undefined || !loopbackNames.has(host.replace(/:\d+$/, '').toLowerCase())) {
    throw new HttpFailure(403, 'FORBIDDEN_HOST', `requests must address the API by a loopback name, not ${JSON.stringify(host ?? '')}`);
  }
  const origin = request.headers.origin;
  if (origin !== undefined && ![...loopbackNames].some((name) => origin.toLowerCase() === `http://${name}:${port}`)) {
    throw new HttpFailure(403, 'FORBIDDEN_ORIGIN', `requests from origin ${JSON.stringify(origin)} are refused`);
  }
}

/** Equal-length digests, so the comparison takes the same time whatever the guess. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function checkToken(header: string | undefined, expected: Buffer): void {
  const match = header === undefined ? undefined : /^Bearer ([^\s]{1,256})$/.exec(header);
  if (!match) throw new HttpFailure(401, 'UNAUTHORIZED', 'missing bearer token (the token is in <data-dir>/api.token)');
  if (!timingSafeEqual(digest(match[1] as string), expected)) throw new HttpFailure(401, 'UNAUTHORIZED', 'wrong token');
}

function status(node: ButterNode<DefaultServices>) {
  const blocks = node.services.storage.blocks;
  return {
    nodeId: node.id,
    address: formatAddress(node.address),
    networkId: node.networkId,
    pid: process.pid,
    uptimeMs: node.uptimeMs(),
    knownHosts: node.knownHosts.size,
    knownHostsCapacity: node.knownHosts.capacity,
    openConnections: node.openConnections,
    memory: { totalBytes: node.memory.totalBytes, storageBytes: node.memory.storageBytes },
    storage: { blocks: blocks.size, usedBytes: blocks.usedBytes(), capacityBytes: blocks.capacityBytes, groups: node.services.storage.groups().length },
  };
}

function peers(node: ButterNode<DefaultServices>) {
  const report = node.hosts.report();
  return {
    capacity: report.capacity,
    diversity: report.diversity,
    peers: report.hosts.map((host) => ({
      id: host.id,
      address: formatAddress(host.address),
      hostClass: host.hostClass ?? null,
      ambassador: host.quality?.ambassador ?? false,
      far: host.far,
      quality: host.quality ?? null,
    })),
  };
}

async function put(node: ButterNode<DefaultServices>, request: IncomingMessage, parameters: URLSearchParams) {
  const query = checkQuery(parameters);
  const replicas = query.replicas ?? node.services.storage.options.replicas;
  // A durable write needs other hosts; failing now beats waiting out the durable timeout.
  if (replicas > 1 && node.knownHosts.size === 0) throw new NoPeersError(`this node knows no other host to hold ${replicas} replicas; ${noPeersHint}`);
  const limit = Math.min(maxContentBytes, node.memory.storageBytes);
  const data = await readBody(request, limit, `content is limited to this node's storage allocation of ${limit} bytes`);
  const contentId = await node.services.storage.store(data, { durable: true, keywords: query.keyword, replicas });
  return { contentId, bytes: data.byteLength, replicas };
}

/** A new version of this node's mutable name: the content is stored durably as for put, then the signed record spreads. */
async function update(node: ButterNode<DefaultServices>, request: IncomingMessage, name: string, parameters: URLSearchParams) {
  const problem = nameProblem(name);
  if (problem) throw new HttpFailure(400, 'INVALID_ARGUMENT', problem);
  const query = checkQuery(parameters);
  const replicas = query.replicas ?? node.services.storage.options.replicas;
  if (replicas > 1 && node.knownHosts.size === 0) throw new NoPeersError(`this node knows no other host to hold ${replicas} replicas; ${noPeersHint}`);
  const limit = Math.min(maxContentBytes, node.memory.storageBytes);
  const data = await readBody(request, limit, `content is limited to this node's storage allocation of ${limit} bytes`);
  const record = await node.services.storage.update(name, data, { durable: true, keywords: query.keyword, replicas });
  return { name, author: Buffer.from(record.author).toString('base64url'), sequence: record.sequence, contentId: record.contentId, bytes: data.byteLength, replicas };
}

/** Deletes content this node authored (a signed tombstone to its holders). */
async function remove(node: ButterNode<DefaultServices>, contentId: string) {
  if (!contentIdRegExp.test(contentId)) throw new HttpFailure(400, 'INVALID_ARGUMENT', `invalid content id ${JSON.stringify(contentId.slice(0, 80))}`);
  await node.services.storage.delete(contentId);
  return { contentId, deleted: true };
}

const searchQuerySchema = Type.Object(
  {
    word: Type.Array(Type.String({ minLength: 1, maxLength: maxKeywordLength }), { minItems: 1, maxItems: maxSearchWords }),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: maxSearchResults })),
  },
  { additionalProperties: false },
);

/** Keyword search: the matching contents, best ranked first, each with the words it matched and who answered for it. */
async function search(node: ButterNode<DefaultServices>, parameters: URLSearchParams) {
  const query: Record<string, unknown> = { word: parameters.getAll('word') };
  for (const name of new Set(parameters.keys())) {
    if (name === 'limit') query.limit = /^\d{1,4}$/.test(parameters.get(name) ?? '') ? Number(parameters.get(name)) : parameters.get(name);
    else if (name !== 'word') query[name] = parameters.get(name);
  }
  const checkedQuery = checked(searchQuerySchema, query, 'query');
  const words = searchWords(checkedQuery.word);
  if (words.length === 0) throw new HttpFailure(400, 'INVALID_ARGUMENT', 'a search needs a word of at least 3 letters or digits');
  // A person reads these: each result is checked against a block of its content (one fetch each).
  const results = await node.services.retrieval.search(words, { limit: checkedQuery.limit, verify: true });
  return { words, results: results.map(({ contentId, matched, holders }) => ({ contentId, matched, holders: holders.map((holder) => holder.id) })) };
}

function checkQuery(parameters: URLSearchParams): Static<typeof putQuerySchema> {
  const query: Record<string, unknown> = { keyword: parameters.getAll('keyword') };
  for (const name of new Set(parameters.keys())) {
    if (name === 'replicas') query.replicas = /^\d{1,3}$/.test(parameters.get(name) ?? '') ? Number(parameters.get(name)) : parameters.get(name);
    else if (name !== 'keyword') query[name] = parameters.get(name);
  }
  return checked(putQuerySchema, query, 'query');
}

async function get(components: ApiComponents, response: ServerResponse, contentId: string): Promise<void> {
  if (!contentIdRegExp.test(contentId)) throw new HttpFailure(400, 'INVALID_ARGUMENT', `invalid content id ${JSON.stringify(contentId.slice(0, 80))}`);
  const startedAt = performance.now();
  let data: Uint8Array | undefined;
  try {
    data = await findContentBytes(components.node, contentId);
  } catch (error) {
    components.onQuery?.('failed', (performance.now() - startedAt) / 1000);
    throw error;
  }
  components.onQuery?.(data ? 'found' : 'not_found', (performance.now() - startedAt) / 1000);
  if (!data) {
    const alone = components.node.knownHosts.size === 0 ? ' (this node knows no other host)' : '';
    throw new NotFoundError(`no host in reach holds every part of ${contentId}${alone}`);
  }
  response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.byteLength });
  for (let offset = 0; offset < data.byteLength; offset += downloadSliceBytes) {
    if (response.destroyed) return;
    const more = response.write(data.subarray(offset, offset + downloadSliceBytes));
    if (!more) await drainedOrClosed(response);
  }
  response.end();
}

function drainedOrClosed(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done).off('close', done);
      resolve();
    };
    response.once('drain', done).once('close', done);
  });
}

/** Reads a body of at most `limit` bytes into one buffer, refusing a larger declared length before reading any. */
async function readBody(request: IncomingMessage, limit: number, limitText: string): Promise<Uint8Array> {
  const declared = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
  if (declared !== undefined && declared > limit) throw new HttpFailure(413, 'PAYLOAD_TOO_LARGE', `${declared} bytes: ${limitText}`);
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    received += chunk.byteLength;
    if (received > limit) throw new HttpFailure(413, 'PAYLOAD_TOO_LARGE', `more than ${limit} bytes: ${limitText}`);
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks, received);
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

async function readJson<T extends Parameters<typeof Value.Check>[0]>(request: IncomingMessage, schema: T): Promise<Static<T>> {
  const type = request.headers['content-type'];
  const body = await readBody(request, maxJsonBodyBytes, `JSON bodies are limited to ${maxJsonBodyBytes} bytes`);
  if (body.byteLength === 0) return checked(schema, {}, 'body');
  if (type === undefined || !/^application\/json\b/i.test(type)) throw new HttpFailure(415, 'UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch (error) {
    throw new HttpFailure(400, 'BAD_JSON', `the body is not JSON: ${(error as Error).message}`);
  }
  return checked(schema, parsed, 'body');
}

function checked<T extends Parameters<typeof Value.Check>[0]>(schema: T, value: unknown, where: string): Static<T> {
  if (Value.Check(schema, value)) return value as Static<T>;
  const first = Value.Errors(schema, value).First();
  throw new HttpFailure(400, 'INVALID_ARGUMENT', `${where}${first?.path ? ` ${first.path}` : ''}: ${first?.message ?? 'invalid'}`);
}

const statusByCode: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  NO_PEERS: 503,
  OVERLOADED: 503,
  NODE_STOPPED: 503,
  TIMEOUT: 504,
  STORAGE_FULL: 507,
  BAD_SIGNATURE: 403,
  STALE_VERSION: 409,
  CONTENT_DELETED: 410,
};

function fail(response: ServerResponse, error: unknown): void {
  const { code, message } = describeFailure(error);
  const status = error instanceof HttpFailure ? error.status : (statusByCode[code] ?? 500);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  // After a refusal the rest of the request is not read: the connection closes.
  response.setHeader('connection', 'close');
  sendJson(response, status, { error: { code, message: error instanceof ButterError || error instanceof CommandError ? message : 'internal error' } });
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  response.end(text);
}
