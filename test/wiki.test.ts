import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createNode } from '../src/node/create.js';
import { storage } from '../src/storage/service.js';
import { ArticleAuthor, decodeArticle, encodeArticle, nameOfTitle } from '../src/web/article.js';
import { isSafeLink, renderMarkdown } from '../src/web/markdown.js';
import { neighbourhood } from '../src/web/network.js';
import { startWebServer, type WebServer } from '../src/web/server.js';
import { latestVersions, Wiki, type WikiNode } from '../src/web/wiki.js';

const seed = (byte: number) => new Uint8Array(32).fill(byte);

describe('wiki article records', () => {
  it('verifies its author signature and refuses a changed record', () => {
    const author = new ArticleAuthor(seed(1));
    const record = author.sign({ name: 'butter', title: 'Butter', body: 'soft', publishedAtMs: 1 });
    assert.deepEqual(decodeArticle(encodeArticle(record)), record);
    assert.equal(decodeArticle(encodeArticle({ ...record, body: 'hard' })), undefined);
    const other = new ArticleAuthor(seed(2));
    assert.equal(decodeArticle(encodeArticle({ ...record, author: other.publicKey })), undefined);
    assert.equal(decodeArticle(new TextEncoder().encode('not an article')), undefined);
  });

  it('names articles by their title', () => {
    assert.equal(nameOfTitle('  Crème Brûlée: a recipe! '), 'creme-brulee-a-recipe');
    assert.equal(nameOfTitle('🧈'), 'untitled');
  });

  it('keeps the version no other replaces', () => {
    const base = { name: 'a', title: 'A', author: 'f'.repeat(64), matches: true };
    const first = { ...base, id: `${'1'.repeat(64)}.1`, publishedAtMs: 1 };
    const second = { ...base, id: `${'2'.repeat(64)}.1`, publishedAtMs: 2, previous: first.id };
    const forged = { ...base, author: 'e'.repeat(64), id: `${'3'.repeat(64)}.1`, publishedAtMs: 3, previous: second.id };
    assert.deepEqual(latestVersions([second, first, forged]).map((summary) => summary.id).sort(), [second.id, forged.id].sort());
  });
});

describe('wiki Markdown', () => {
  it('renders raw HTML as text and drops unsafe links', () => {
    const html = renderMarkdown('<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n[click](javascript:alert(3)) [ok](https://example.org) ![i](data:text/html,x)');
    assert.doesNotMatch(html, /<script|<img[^>]*onerror|href="javascript:|src="data:/i);
    assert.match(html, /&lt;script&gt;/);
    assert.match(html, /<a href="https:\/\/example\.org" rel="nofollow noopener noreferrer">ok<\/a>/);
    for (const url of ['javascript:alert(1)', 'JaVa\tScRiPt:alert(1)', ' javascript:x', 'vbscript:x', 'data:text/html,x', 'file:///etc/passwd']) assert.equal(isSafeLink(url), false, url);
    for (const url of ['https://example.org', 'http://a', 'mailto:a@b', '/network', 'other-page', '#part', '../up']) assert.equal(isSafeLink(url), true, url);
  });
});

describe('the wiki on three nodes over loopback', () => {
  const nodes: WikiNode[] = [];
  const wikis: Wiki[] = [];
  let web: WebServer | undefined;

  before(async () => {
    for (let index = 0; index < 3; index += 1) {
      const bootstrap = nodes.map((earlier) => earlier.address);
      const node = await createNode({ host: '127.0.0.1', memoryMB: 16, bootstrap, discovery: { enabled: false }, services: { storage: storage({ heartbeatIntervalMs: 200 }) } });
      wikis.push(new Wiki(node, new ArticleAuthor(seed(10 + index)), { wallClockMs: () => 1_700_000_000_000 + index }));
      await node.spawn();
      nodes.push(node);
    }
    await new Promise((resolve) => setTimeout(resolve, 400)); // introductions and announcements
    web = await startWebServer({ wiki: wikis[1] as Wiki, network: neighbourhood(nodes[1] as WikiNode, () => undefined), port: 0 });
  });

  after(async () => {
    await web?.close();
    await Promise.all(nodes.map((node) => node.stop({ graceful: false })));
  });

  it('publishes on one node; another lists, searches, reads and follows its edits and its deletion; only the author may change it', { timeout: 60_000 }, async () => {
    const [writer, reader] = wikis as [Wiki, Wiki];
    const first = await writer.publish('Peer groups', 'Groups keep *content* alive.');
    assert.equal((await reader.read(first.id))?.body, 'Groups keep *content* alive.');
    assert.deepEqual((await reader.list()).map((summary) => summary.id), [first.id]);
    assert.deepEqual((await reader.list(['ALIVE groups'])).map((summary) => summary.id), [first.id]);
    assert.deepEqual(await reader.list(['missing']), []);
    assert.ok((await reader.holders(first.id)).length >= 2);

    const second = await writer.edit(first.id, 'Peer groups', 'Groups keep content alive, in goldilocks.');
    assert.equal(second.name, first.name);
    assert.deepEqual((await reader.list()).map((summary) => summary.id), [second.id]);
    assert.deepEqual((await reader.history(second.id)).map((version) => version.id), [second.id, first.id]);
    await assert.rejects(reader.edit(second.id, 'Mine now', 'forged'), /only the author/);

    await writer.remove(second.id);
    assert.deepEqual(await reader.list(), []);
  });

  it('serves pages to its own origin only, with a Content-Security-Policy', { timeout: 30_000 }, async () => {
    const url = new URL(web?.url as string);
    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const sent = request({ host: url.hostname, port: url.port, path, method, headers }, (response) => {
          let body = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
        });
        sent.on('error', reject);
        sent.end(method === 'POST' ? 'title=x&body=y' : undefined);
      });
    const page = await get('/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.doesNotMatch(page.body, /<script(?![^>]*src=)/);
    assert.equal((await get('/', { host: 'evil.example' })).status, 421);
    const crossSite = await get('/articles', { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, 'POST');
    assert.equal(crossSite.status, 403);
    assert.equal((await get('/articles/not-an-id')).status, 404);
  });
});
