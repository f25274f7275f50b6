import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createNode } from '../src/node/create.js';
import { ContentDeletedError, SignatureError } from '../src/errors.js';
import { authorKeyword } from '../src/storage/authorship.js';
import { blockKeyOf } from '../src/storage/block.js';
import { storage } from '../src/storage/service.js';
import { encodeValue } from '../src/transport/codec.js';
import { articleFormat, articleKeywords, decodeArticle, encodeArticle, nameOfTitle } from '../src/web/article.js';
import { isSafeLink, renderMarkdown } from '../src/web/markdown.js';
import { neighbourhood } from '../src/web/network.js';
import { startWebServer, type WebServer } from '../src/web/server.js';
import { Wiki, type WikiNode } from '../src/web/wiki.js';

describe('wiki article records', () => {
  it('decodes what it encodes and nothing else', () => {
    const record = { format: articleFormat, name: 'butter', title: 'Butter', body: 'soft', author: 'f'.repeat(64), publishedAtMs: 1 } as const;
    assert.deepEqual(decodeArticle(encodeArticle(record)), record);
    assert.equal(decodeArticle(new TextEncoder().encode('not an article')), undefined);
    assert.equal(decodeArticle(encodeValue({ ...record, author: 'me' })), undefined);
  });

  it('names articles by their title', () => {
    assert.equal(nameOfTitle('  Crème Brûlée: a recipe! '), 'creme-brulee-a-recipe');
    assert.equal(nameOfTitle('🧈'), 'untitled');
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
      wikis.push(new Wiki(node, { wallClockMs: () => 1_700_000_000_000 + index }));
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

  it('publishes on one node; another lists, searches, reads and follows its edits; only the author edits or deletes, and a delete drops every version for good', { timeout: 60_000 }, async () => {
    const [writer, reader] = wikis as [Wiki, Wiki];
    const first = await writer.publish('Peer groups', 'Groups keep *content* alive.');
    assert.equal(first.author, writer.authorKey);
    assert.equal((await reader.read(first.id))?.body, 'Groups keep *content* alive.');
    assert.deepEqual((await reader.list()).map((summary) => summary.id), [first.id]);
    assert.deepEqual((await reader.list(['ALIVE groups'])).map((summary) => summary.id), [first.id]);
    assert.deepEqual(await reader.list(['missing']), []);
    assert.ok((await reader.holders(first.id)).length >= 2);
    await assert.rejects(writer.publish('Peer groups', 'again'), /already: edit it/);

    // An edit is the next version of the author's mutable name; the first stays readable as history.
    const second = await writer.edit(first.id, 'Peer groups', 'Groups keep content alive, in goldilocks.');
    assert.equal(second.name, first.name);
    assert.deepEqual((await reader.list()).map((summary) => summary.id), [second.id]);
    assert.equal((await reader.read(first.id))?.latest, second.id);
    assert.deepEqual((await reader.history(second.id)).map((version) => version.id), [second.id, first.id]);
    await assert.rejects(writer.edit(first.id, 'Peer groups', 'stale'), /newer version/);
    const olderPage = await send(web as WebServer, `/articles/${first.id}`);
    assert.equal(olderPage.status, 200);
    assert.match(olderPage.body, new RegExp(`An older version: <a href="/articles/${second.id.replace('.', '\\.')}">the newest version</a>`));

    // Another author cannot change or delete it: not through the wiki, its page, nor storage.
    await assert.rejects(reader.edit(second.id, 'Mine now', 'forged'), /only the author of an article can change it/);
    await assert.rejects(reader.remove(second.id), /only the author of an article can delete it/);
    const page = await post(web as WebServer, `/articles/${second.id}/delete`);
    assert.equal(page.status, 400);
    assert.match(page.body, /only the author of an article can delete it/);
    await assert.rejects((nodes[1] as WikiNode).services.storage.delete(second.id), SignatureError);
    assert.equal((await reader.read(second.id))?.body, 'Groups keep content alive, in goldilocks.');

    // A forged version claiming the writer, linked after the newest, is not on the writer's history.
    const forged = { ...second, body: 'forged' };
    const forgedRecord = { format: articleFormat, name: forged.name, title: forged.title, body: forged.body, author: forged.author, publishedAtMs: forged.publishedAtMs + 1, previous: second.id } as const;
    // Even with the writer's author keyword: plain store lets anyone claim a key, only the signed name record proves it.
    const forgedId = await (nodes[2] as WikiNode).services.storage.store(encodeArticle(forgedRecord), { keywords: [...articleKeywords(forgedRecord), authorKeyword(Buffer.from(writer.authorKey, 'hex'))] });
    assert.equal(await reader.read(forgedId), undefined);
    assert.deepEqual((await reader.list()).map((summary) => summary.id), [second.id]);

    // The author deletes: every version's copies are dropped and storing them again is refused.
    assert.deepEqual((await writer.remove(first.id)).sort(), [first.id, second.id].sort());
    for (const node of nodes) for (const { id } of [first, second]) assert.equal(node.services.storage.has(blockKeyOf(id, 0)), false);
    assert.deepEqual(await reader.list(), []);
    assert.equal(await reader.read(second.id), undefined);
    assert.deepEqual(await reader.history(second.id), []);
    const { id: _id, latest: _latest, ...secondRecord } = second;
    await assert.rejects(
      (nodes[0] as WikiNode).services.storage.store(encodeArticle(secondRecord), { keywords: [...articleKeywords(secondRecord), authorKeyword((nodes[0] as WikiNode).services.storage.authorKey)] }),
      ContentDeletedError,
    );
  });

  it('serves pages to its own origin only, with a Content-Security-Policy', { timeout: 30_000 }, async () => {
    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => send(web as WebServer, path, headers, method);
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

/** One request to a wiki server on loopback; a POST sends a small form. */
function send(web: WebServer, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const url = new URL(web.url);
  return new Promise((resolve, reject) => {
    const sent = request({ host: url.hostname, port: url.port, path, method, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    sent.on('error', reject);
    sent.end(method === 'POST' ? 'title=x&body=y' : undefined);
  });
}

function post(web: WebServer, path: string) {
  return send(web, path, { 'content-type': 'application/x-www-form-urlencoded' }, 'POST');
}
