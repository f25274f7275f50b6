import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startProgram, stopProgram, type Program } from './support/program.js';

/**
 * The demo network in a real browser: Debian's chromium, driven by
 * playwright-core (never a downloaded browser). Screenshots go to
 * test-artifacts/browser/ (gitignored); the README's pictures are copies.
 */
const chromiumPath = '/usr/bin/chromium';
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const butter = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const artefacts = `${repositoryRoot}test-artifacts/browser/`;
const skip = existsSync(chromiumPath) ? false : `${chromiumPath} is missing: run ./scripts/setup.sh as root to install Debian's chromium`;

async function poll(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('the demo network in a browser', () => {
  it('publishes and edits on node A, searches and reads on node B, reads again after A is killed in the network view, renders a hostile article inert, and its author deletes it', { skip, timeout: 120_000 }, async () => {
    mkdirSync(artefacts, { recursive: true });
    let demo: Program | undefined;
    let browser: Browser | undefined;
    try {
      demo = startProgram(butter, ['demo', '--nodes', '6', '--seconds', '110']);
      await demo.waitFor(/^ready: /m, 'the demo network', 40_000);
      const urls = new Map([...demo.output().matchAll(/^node (\d+) {2}wiki (\S+) .*\(node ([0-9a-f]{12}) /gm)].map((match) => [Number(match[1]), { url: match[2] as string, id: match[3] as string }]));
      const a = urls.get(3);
      const b = urls.get(4);
      assert.ok(a && b, demo.output());

      browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox'] });
      const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      const problems: string[] = [];
      const watch = (page: Page) => {
        page.on('dialog', (dialog) => {
          problems.push(`dialog: ${dialog.message()}`);
          void dialog.dismiss();
        });
        page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
        return page;
      };
      const pageA = watch(await context.newPage());
      const pageB = watch(await context.newPage());

      // Publish on A, then edit: a new version that links the first.
      await pageA.goto(`${a.url}new`);
      await pageA.fill('input[name=title]', 'Written in a browser');
      await pageA.fill('textarea[name=body]', 'First draft from **node 3**.');
      await Promise.all([pageA.waitForURL(/\/articles\/[0-9a-f]{64}\.\d+$/), pageA.click('button[type=submit]')]);
      const firstId = pageA.url().split('/').pop() as string;
      await pageA.click('text=Edit');
      await pageA.fill('textarea[name=body]', 'Kept by the network, published from **node 3**.');
      await Promise.all([pageA.waitForURL((url) => /\/articles\/[0-9a-f]{64}\.\d+$/.test(url.pathname) && !url.pathname.endsWith(firstId)), pageA.click('button[type=submit]')]);
      const id = pageA.url().split('/').pop() as string;
      await pageA.screenshot({ path: `${artefacts}article-on-a.png`, fullPage: true });

      // Search and read on B; the history has both versions.
      await pageB.goto(`${b.url}?q=kept+network`);
      await Promise.all([pageB.waitForURL(new RegExp(`/articles/${id.replace('.', '\\.')}$`)), pageB.click('ul.articles a:text("Written in a browser")')]);
      assert.match(await pageB.textContent('article.body') ?? '', /Kept by the network, published from node 3\./);
      await pageB.goto(`${b.url}articles/${id}/history`);
      assert.equal(await pageB.locator('ol.history li').count(), 2);

      // Kill A from B's network view; A disappears from it.
      await pageB.goto(`${b.url}network`);
      const circleOfA = pageB.locator(`circle[data-id^="${a.id}"]`);
      await circleOfA.waitFor({ timeout: 10_000 });
      await circleOfA.click();
      await pageB.click('button[data-action=kill]');
      await circleOfA.waitFor({ state: 'detached', timeout: 10_000 });

      // B still reads the article, and its group is back at its target without A.
      await poll('the group back to goldilocks without node 3', async () => {
        await pageB.goto(`${b.url}articles/${id}`);
        const state = await pageB.textContent('table.groups tbody tr .state').catch(() => '');
        const alive = await pageB.locator('table.groups tbody tr .member.alive').allTextContents();
        return state === 'goldilocks' && alive.length === 3 && !alive.includes('node 3');
      });
      assert.match(await pageB.textContent('article.body') ?? '', /Kept by the network/);
      await pageB.screenshot({ path: `${artefacts}article-on-b-after-kill.png`, fullPage: true });
      await pageB.goto(`${b.url}network`);
      await pageB.locator('#groups tr').first().waitFor();
      await pageB.screenshot({ path: `${artefacts}network-view.png`, fullPage: true });
      assert.equal(await pageB.locator(`circle[data-id^="${a.id}"]`).count(), 0);

      // A hostile article: its script, its onerror and its javascript: link do nothing.
      await pageB.goto(`${b.url}new`);
      await pageB.fill('input[name=title]', 'Hostile <b>article</b>');
      await pageB.fill('textarea[name=body]', '<script>alert("script")</script>\n\n<img src="x" onerror="alert(\'onerror\')">\n\n[click me](javascript:alert("link")) and <a href="javascript:alert(1)">raw</a>');
      await Promise.all([pageB.waitForURL(/\/articles\/[0-9a-f]{64}\.\d+$/), pageB.click('button[type=submit]')]);
      assert.equal(await pageB.locator('article.body script, article.body img, main [onerror]').count(), 0);
      assert.equal(await pageB.locator('a[href^="javascript:" i]').count(), 0);
      assert.match(await pageB.textContent('article.body') ?? '', /<script>alert\("script"\)<\/script>/);
      assert.equal(await pageB.textContent('h1'), 'Hostile <b>article</b>');
      await pageB.click('article.body >> text=click me');
      await pageB.screenshot({ path: `${artefacts}hostile-article.png`, fullPage: true });

      // Its author deletes it from its page: gone from the list, and its page is not found.
      const hostileId = pageB.url().split('/').pop() as string;
      await Promise.all([pageB.waitForURL(`${b.url}`), pageB.click('button:text("Delete")')]);
      assert.equal(await pageB.locator('ul.articles a:text("Hostile <b>article</b>")').count(), 0);
      assert.equal((await pageB.goto(`${b.url}articles/${hostileId}`))?.status(), 404);
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      if (demo) await stopProgram(demo, 'SIGINT').catch(() => undefined);
    }
  });
});
