import { renderMarkdown } from './markdown.js';
import type { Article, Holding } from './wiki.js';
import type { ArticleSummary } from './wiki-messages.js';

/** HTML pages of the wiki: every peer-supplied string goes through `escape`, article bodies through the safe Markdown renderer. */
export function escape(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

export interface PageContext {
  /** This node, as the network view labels it. */
  nodeLabel: string;
  label(id: string): string;
}

function time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

export function layout(context: PageContext, title: string, main: string, query = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Butter wiki</title>
<link rel="stylesheet" href="/assets/style.css">
</head>
<body>
<header>
<a class="brand" href="/">Butter wiki</a>
<a href="/new">Write</a>
<a href="/network">Network</a>
<form action="/" method="get" class="search"><input type="search" name="q" value="${escape(query)}" placeholder="search words" aria-label="search words"><button>Search</button></form>
<span class="node">served by ${escape(context.nodeLabel)}</span>
</header>
<main>
${main}
</main>
</body>
</html>
`;
}

export function listPage(context: PageContext, articles: ArticleSummary[], query: string): string {
  const heading = query ? `Articles with “${escape(query)}”` : 'Articles';
  const items = articles.map(
    (article) => `<li><a href="/articles/${article.id}">${escape(article.title)}</a> <span class="meta">by ${escape(context.label(article.author))}, ${time(article.publishedAtMs)}</span></li>`,
  );
  const body = items.length > 0 ? `<ul class="articles">${items.join('\n')}</ul>` : `<p class="empty">No articles found${query ? '' : ' yet: <a href="/new">write one</a>'}.</p>`;
  return layout(context, 'Articles', `<h1>${heading}</h1>\n${body}\n<p class="note">No database and no central server: this list is what this node and the nodes it knows hold.</p>`, query);
}

export function editorPage(context: PageContext, options: { action: string; title?: string; body?: string; heading: string; error?: string }): string {
  return layout(
    context,
    options.heading,
    `<h1>${escape(options.heading)}</h1>
${options.error ? `<p class="error">${escape(options.error)}</p>` : ''}
<form method="post" action="${escape(options.action)}" class="editor">
<label>Title <input name="title" required maxlength="200" value="${escape(options.title ?? '')}"></label>
<label>Body (Markdown) <textarea name="body" rows="16">${escape(options.body ?? '')}</textarea></label>
<button type="submit">Publish</button>
</form>`,
  );
}

export function articlePage(context: PageContext, article: Article, holdings: Holding[], isAuthor: boolean): string {
  const versionLinks = `<a href="/articles/${article.id}/history">history</a>${article.previous ? ` · <a href="/articles/${article.previous}">previous version</a>` : ''}`;
  const newer = article.latest === article.id ? '' : `<p class="note">An older version: <a href="/articles/${article.latest}">the newest version</a>.</p>`;
  // Only the newest version can be edited; a delete removes every version.
  const actions = isAuthor
    ? `<div class="actions">${newer ? '' : `<a href="/articles/${article.id}/edit">Edit</a>`}
<form method="post" action="/articles/${article.id}/delete"><button type="submit">Delete</button></form></div>`
    : '';
  return layout(
    context,
    article.title,
    `<h1>${escape(article.title)}</h1>
<p class="meta">by ${escape(context.label(article.author))} · ${time(article.publishedAtMs)} · version <code>${article.id.slice(0, 16)}…</code> · ${versionLinks}</p>
${newer}${actions}
<article class="body">
${renderMarkdown(article.body)}
</article>
${holdersSection(context, holdings)}`,
  );
}

function holdersSection(context: PageContext, holdings: Holding[]): string {
  if (holdings.length === 0) return '<section class="holders"><h2>Held by</h2><p class="empty">No node this one knows holds its blocks right now.</p></section>';
  // Each holder's view of each group; the group line shows the most alive members any holder sees.
  const groups = new Map<string, Holding['groups'][number]>();
  for (const { groups: views } of holdings) {
    for (const view of views) {
      const seen = groups.get(view.key);
      const alive = (group: typeof view) => group.members.filter((member) => member.status === 'alive').length;
      if (!seen || alive(view) > alive(seen)) groups.set(view.key, view);
    }
  }
  const holders = holdings.map((holding) => `<li class="holder">${escape(context.label(holding.holder))}</li>`).join('');
  const rows = [...groups.values()].map((group) => {
    const alive = group.members.filter((member) => member.status === 'alive').length;
    const members = group.members.map((member) => `<span class="member ${member.status}">${escape(context.label(member.id))}</span>`).join(' ');
    return `<tr><td><code>…${escape(group.key.slice(-8))}</code></td><td><span class="state ${group.state}">${group.state}</span></td><td>${alive}/${group.target}</td><td>${members}</td></tr>`;
  });
  return `<section class="holders"><h2>Held by</h2><ul class="holders">${holders}</ul>
<table class="groups"><thead><tr><th>group</th><th>state</th><th>alive / target</th><th>members</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

export function historyPage(context: PageContext, versions: Article[]): string {
  const items = versions.map(
    (version) =>
      `<li><a href="/articles/${version.id}">${escape(version.title)}</a> <span class="meta">${time(version.publishedAtMs)} · <code>${version.id.slice(0, 16)}…</code></span></li>`,
  );
  return layout(context, `History of ${versions[0]?.title ?? ''}`, `<h1>History</h1><ol class="history">${items.join('')}</ol>`);
}

export function messagePage(context: PageContext, title: string, message: string): string {
  return layout(context, title, `<h1>${escape(title)}</h1><p>${escape(message)}</p>`);
}

export function networkPage(context: PageContext): string {
  return layout(
    context,
    'Network',
    `<h1>Network</h1>
<p class="note">Live: nodes, the hosts each knows (lines), and the Peer Content Groups holding the articles with their state.</p>
<div id="controls"></div>
<svg id="graph" viewBox="-520 -420 1040 840" role="img" aria-label="network graph"></svg>
<h2>Groups</h2>
<table class="groups"><thead><tr><th>article</th><th>group</th><th>state</th><th>alive / target</th><th>members</th></tr></thead><tbody id="groups"></tbody></table>
<script type="module" src="/assets/network-view.js"></script>`,
  );
}

export const styleSheet = `
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #222; background: #fffdf5; }
header { display: flex; gap: 1em; align-items: center; padding: .6em 1em; background: #f7e7a1; border-bottom: 1px solid #e0c860; flex-wrap: wrap; }
header a { color: #5a4300; text-decoration: none; font-weight: 600; }
header .brand { font-size: 1.2em; }
header .node { margin-left: auto; color: #6b5a1d; font-size: .9em; }
main { max-width: 60em; margin: 1em auto; padding: 0 1em; }
.meta, .note { color: #777; font-size: .9em; }
.error { color: #a00; }
.empty { color: #777; font-style: italic; }
.editor label { display: block; margin: .6em 0; }
.editor input, .editor textarea { width: 100%; box-sizing: border-box; font: inherit; }
.actions { display: flex; gap: 1em; align-items: center; }
.actions form { display: inline; }
article.body { border-top: 1px solid #eee; border-bottom: 1px solid #eee; padding: .5em 0; }
table.groups { border-collapse: collapse; font-size: .9em; }
table.groups td, table.groups th { border: 1px solid #e5e0c8; padding: .2em .5em; text-align: left; }
ul.holders { display: flex; flex-wrap: wrap; gap: .5em; list-style: none; padding: 0; }
li.holder, .member { background: #eef5e8; border-radius: .3em; padding: 0 .4em; }
.member.suspected { background: #fbe3c4; } .member.left { background: #eee; color: #999; text-decoration: line-through; }
.state { border-radius: .3em; padding: 0 .4em; color: #fff; }
.state.goldilocks { background: #3a8a3a; } .state.cold { background: #3a62a8; } .state.hot { background: #c0392b; }
#graph { width: 100%; max-height: 70vh; background: #fff; border: 1px solid #eee; }
#graph line { stroke: #c9c2a5; stroke-width: 1; }
#graph circle { fill: #f2c230; stroke: #7a5d00; stroke-width: 2; cursor: pointer; }
#graph circle.self { fill: #e67e22; } #graph circle.ambassador { stroke: #8e44ad; stroke-width: 4; } #graph circle.holder { fill: #3a8a3a; }
#graph text { font-size: 14px; fill: #333; text-anchor: middle; }
#controls { display: flex; gap: .5em; flex-wrap: wrap; align-items: center; margin: .5em 0; }
#controls button { font: inherit; }
`;
