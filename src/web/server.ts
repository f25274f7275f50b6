import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from '../daemon/http.js';
import { ButterError, ContentDeletedError, InvalidArgumentError, SignatureError, StaleVersionError } from '../errors.js';
import { parseContentId } from '../storage/block.js';
import type { NetworkSource } from './network.js';
import { articlePage, editorPage, historyPage, listPage, messagePage, networkPage, styleSheet, type PageContext } from './pages.js';
import type { Wiki } from './wiki.js';

export interface WebServerOptions {
  wiki: Wiki;
  network: NetworkSource;
  /** Port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Time between two network-view updates on the event stream. */
  updateIntervalMs?: number;
}

export interface WebServer {
  url: string;
  close(): Promise<void>;
}

/** A form is small: a title and a Markdown body of at most 64 K characters, URL-encoded. */
const maxFormBytes = 512 * 1024;
/** Network-view event streams open at once per server. */
const maxEventStreams = 16;

/**
 * Denies inline script, inline style, plugins, framing and every origin but
 * this one: a script that slipped into an article's HTML would not run.
 */
const contentSecurityPolicy =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const networkViewScript = readFileSync(new URL('./public/network-view.js', import.meta.url));

/**
 * The wiki and the network view of one node over HTTP on 127.0.0.1 only
 * (docs/API.md, "Wiki"). Every page is rendered here; the only script is the
 * network view's, served as a file. Changes (POST) must come from this
 * origin: a page elsewhere cannot make the browser publish or kill.
 */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const { wiki, network } = options;
  const nodeId = wiki.nodeId;
  const context: PageContext = { nodeLabel: network.label(nodeId), label: (id) => network.label(id) };
  const streams = new Set<ServerResponse>();
  let port = 0;

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      // Refused input, or storage refusing a change (another author's content, a deleted one, an older version): the page says why.
      const refused = [InvalidArgumentError, FormError, SignatureError, ContentDeletedError, StaleVersionError].some((kind) => error instanceof kind);
      const status = refused ? 400 : 500;
      const message = error instanceof ButterError || error instanceof FormError ? error.message : 'internal error';
      if (!response.headersSent) send(response, status, 'text/html', messagePage(context, status === 400 ? 'Not accepted' : 'Something went wrong', message));
      else response.end();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const host = request.headers.host;
    // Another name for 127.0.0.1 (DNS rebinding) gets nothing.
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return send(response, 421, 'text/plain', 'wrong host');
    const url = new URL(request.url ?? '/', `http://${host}`);
    const path = url.pathname;
    if (request.method === 'POST') {
      const origin = request.headers.origin;
      if (origin !== undefined && origin !== `http://${host}`) return send(response, 403, 'text/plain', 'cross-origin request refused');
      return post(request, response, path);
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'text/plain', 'method not allowed');
    if (path === '/') {
      const query = url.searchParams.get('q') ?? '';
      return send(response, 200, 'text/html', listPage(context, await wiki.list(query ? [query] : []), query));
    }
    if (path === '/new') return send(response, 200, 'text/html', editorPage(context, { action: '/articles', heading: 'Write an article' }));
    if (path === '/network') return send(response, 200, 'text/html', networkPage(context));
    if (path === '/network/events') return openEventStream(response);
    if (path === '/favicon.ico') return send(response, 204, 'image/x-icon', '', 'public, max-age=3600');
    if (path === '/assets/style.css') return send(response, 200, 'text/css', styleSheet, 'public, max-age=60');
    if (path === '/assets/network-view.js') return send(response, 200, 'text/javascript', networkViewScript, 'public, max-age=60');
    const match = /^\/articles\/([^/]+)(\/history|\/edit)?$/.exec(path);
    if (match && parseContentId(match[1] as string)) {
      const id = match[1] as string;
      const article = await wiki.read(id);
      if (!article) return send(response, 404, 'text/html', messagePage(context, 'Not found', `No node reached holds article ${id} (or its author deleted it).`));
      if (match[2] === '/history') return send(response, 200, 'text/html', historyPage(context, await wiki.history(id)));
      if (match[2] === '/edit') {
        return send(response, 200, 'text/html', editorPage(context, { action: `/articles/${id}/edit`, heading: `Edit ${article.title}`, title: article.title, body: article.body }));
      }
      return send(response, 200, 'text/html', articlePage(context, article, await wiki.holders(id), article.author === wiki.authorKey));
    }
    return send(response, 404, 'text/html', messagePage(context, 'Not found', `Nothing at ${path}.`));
  }

  async function post(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    if (path === '/articles' || /^\/articles\/[^/]+\/(edit|delete)$/.test(path)) {
      const form = await readForm(request);
      const [, , id, action] = path.split('/');
      const title = form.get('title') ?? '';
      const body = form.get('body') ?? '';
      if (action === 'delete') {
        await wiki.remove(checkedId(id));
        response.writeHead(303, { location: '/' }).end();
        return;
      }
      const article = action === 'edit' ? await wiki.edit(checkedId(id), title, body) : await wiki.publish(title, body);
      response.writeHead(303, { location: `/articles/${article.id}` }).end();
      return;
    }
    const kill = /^\/network\/nodes\/([0-9a-f]{64})\/kill$/.exec(path);
    if (kill && network.kill) {
      request.resume();
      await network.kill(kill[1] as string);
      return send(response, 200, 'application/json', JSON.stringify({ killed: kill[1] }));
    }
    if (path === '/network/nodes' && network.add) {
      request.resume();
      return send(response, 200, 'application/json', JSON.stringify({ added: await network.add() }));
    }
    request.resume();
    return send(response, 404, 'text/plain', 'not found');
  }

  function openEventStream(response: ServerResponse): void {
    if (streams.size >= maxEventStreams) return send(response, 503, 'text/plain', 'too many network views open');
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'content-security-policy': contentSecurityPolicy });
    streams.add(response);
    response.on('close', () => streams.delete(response));
    push(response);
  }

  function push(response: ServerResponse): void {
    response.write(`data: ${JSON.stringify(network.snapshot(nodeId))}\n\n`);
  }

  const updates = setInterval(() => {
    for (const stream of streams) push(stream);
  }, options.updateIntervalMs ?? 1_000);
  updates.unref();

  port = await listenOnLoopback(server, options.port, 'wiki');
  return {
    url: `http://127.0.0.1:${port}/`,
    async close() {
      clearInterval(updates);
      for (const stream of streams) stream.end();
      await closeServer(server);
    },
  };
}

class FormError extends Error {}

function checkedId(id: string | undefined): string {
  if (id === undefined || !parseContentId(id)) throw new FormError('not an article id');
  return id;
}

async function readForm(request: IncomingMessage): Promise<URLSearchParams> {
  const type = request.headers['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) throw new FormError('expected a form');
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxFormBytes) throw new FormError(`a form has at most ${maxFormBytes} bytes`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(response: ServerResponse, status: number, type: string, body: string | Buffer, cache = 'no-store'): void {
  response.writeHead(status, {
    'content-type': `${type}; charset=utf-8`,
    'content-security-policy': contentSecurityPolicy,
    'x-content-type-options': 'nosniff',
    // Not no-referrer: with it a browser sends "Origin: null" on this site's own forms.
    'referrer-policy': 'same-origin',
    'cache-control': cache,
  });
  response.end(body);
}
