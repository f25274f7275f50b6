import MarkdownIt from 'markdown-it';

/**
 * Article bodies rendered safely: raw HTML is off (a `<script>` or an
 * `onerror` attribute is shown as text), and a link or image may only point
 * at http, https, mailto or a relative address — never `javascript:`,
 * `data:` or `vbscript:`. The page's Content-Security-Policy is the second wall.
 */
const markdown = new MarkdownIt({ html: false, linkify: true, typographer: false });

const allowedSchemes = new Set(['http:', 'https:', 'mailto:']);

export function isSafeLink(url: string): boolean {
  // Browsers ignore control characters and whitespace inside a scheme ("java\tscript:"), so test without them.
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const compact = url.replace(/[\x00-\x20\x7f]+/g, '').toLowerCase();
  const scheme = /^([a-z][a-z0-9+.-]*:)/.exec(compact)?.[1];
  if (scheme !== undefined) return allowedSchemes.has(scheme);
  // No scheme: relative, unless a colon before any slash makes the browser read one anyway.
  return !/^[^/?#]*:/.test(compact);
}

markdown.validateLink = isSafeLink;

const defaultLinkOpen = markdown.renderer.rules.link_open ?? ((tokens, index, options, _env, self) => self.renderToken(tokens, index, options));
markdown.renderer.rules.link_open = (tokens, index, options, env, self) => {
  tokens[index]?.attrSet('rel', 'nofollow noopener noreferrer');
  return defaultLinkOpen(tokens, index, options, env, self);
};

export function renderMarkdown(text: string): string {
  return markdown.render(text);
}
