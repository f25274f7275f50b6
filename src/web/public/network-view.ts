/// <reference lib="dom" />
/**
 * The network view's browser script, served as a file (the page's
 * Content-Security-Policy allows no inline script). It draws each snapshot
 * the server streams (server-sent events) and, in the demo network, kills the
 * selected node or adds one. Text goes in with textContent only.
 */
interface Snapshot {
  self: string;
  nodes: Array<{ id: string; label: string; address: string; ambassador: boolean; wikiUrl?: string }>;
  edges: Array<{ from: string; to: string }>;
  groups: Array<{ key: string; title?: string; state: string; target: number; members: Array<{ id: string; status: string }> }>;
  canChange: boolean;
}

const svgNamespace = 'http://www.w3.org/2000/svg';
const graph = document.getElementById('graph') as unknown as SVGSVGElement;
const groupRows = document.getElementById('groups') as HTMLTableSectionElement;
const controls = document.getElementById('controls') as HTMLDivElement;
let selected: string | undefined;
let latest: Snapshot | undefined;

function svg<K extends keyof SVGElementTagNameMap>(name: K, attributes: Record<string, string | number>): SVGElementTagNameMap[K] {
  const element = document.createElementNS(svgNamespace, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function element<K extends keyof HTMLElementTagNameMap>(name: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
  const created = document.createElement(name);
  if (text !== undefined) created.textContent = text;
  if (className) created.className = className;
  return created;
}

function draw(snapshot: Snapshot): void {
  latest = snapshot;
  const holders = new Set(snapshot.groups.flatMap((group) => group.members.filter((member) => member.status === 'alive').map((member) => member.id)));
  const positions = new Map<string, { x: number; y: number }>();
  snapshot.nodes.forEach((node, index) => {
    const angle = (2 * Math.PI * index) / Math.max(1, snapshot.nodes.length) - Math.PI / 2;
    positions.set(node.id, { x: Math.round(360 * Math.cos(angle)), y: Math.round(360 * Math.sin(angle)) });
  });
  graph.replaceChildren();
  for (const edge of snapshot.edges) {
    const from = positions.get(edge.from);
    const to = positions.get(edge.to);
    if (from && to) graph.append(svg('line', { x1: from.x, y1: from.y, x2: to.x, y2: to.y }));
  }
  for (const node of snapshot.nodes) {
    const position = positions.get(node.id) as { x: number; y: number };
    const classes = [node.id === snapshot.self ? 'self' : '', node.ambassador ? 'ambassador' : '', holders.has(node.id) ? 'holder' : ''].filter(Boolean).join(' ');
    const circle = svg('circle', { cx: position.x, cy: position.y, r: node.id === selected ? 24 : 18, class: classes, 'data-id': node.id });
    const title = svg('title', {});
    title.textContent = `${node.label} ${node.address}${node.ambassador ? ' (Ambassador)' : ''}`;
    circle.append(title);
    circle.addEventListener('click', () => {
      selected = node.id;
      draw(snapshot);
    });
    const label = svg('text', { x: position.x, y: position.y + 38 });
    label.textContent = node.label;
    graph.append(circle, label);
  }
  drawGroups(snapshot);
  drawControls(snapshot);
}

function drawGroups(snapshot: Snapshot): void {
  const labels = new Map(snapshot.nodes.map((node) => [node.id, node.label]));
  groupRows.replaceChildren(
    ...snapshot.groups.map((group) => {
      const row = element('tr');
      row.dataset.key = group.key;
      const alive = group.members.filter((member) => member.status === 'alive').length;
      const members = element('td');
      for (const member of group.members) members.append(element('span', labels.get(member.id) ?? member.id.slice(0, 8), `member ${member.status}`), ' ');
      row.append(element('td', group.title ?? ''), element('td', `…${group.key.slice(-8)}`), element('td'), element('td', `${alive}/${group.target}`), members);
      (row.children[2] as HTMLElement).append(element('span', group.state, `state ${group.state}`));
      return row;
    }),
  );
}

function drawControls(snapshot: Snapshot): void {
  const node = snapshot.nodes.find((candidate) => candidate.id === selected);
  const parts: Array<HTMLElement | string> = [element('span', `${snapshot.nodes.length} nodes, ${snapshot.groups.length} groups.`)];
  if (node) {
    parts.push(element('strong', `Selected: ${node.label} (${node.address})`));
    if (node.wikiUrl) {
      const link = element('a', 'open its wiki');
      link.href = node.wikiUrl;
      parts.push(link);
    }
    if (snapshot.canChange) parts.push(button('Kill this node', 'kill', () => change(`/network/nodes/${node.id}/kill`)));
  } else {
    parts.push(element('span', 'Click a node to select it.', 'note'));
  }
  if (snapshot.canChange) parts.push(button('Add a node', 'add', () => change('/network/nodes')));
  controls.replaceChildren(...parts);
}

function button(text: string, action: string, onClick: () => void): HTMLButtonElement {
  const created = element('button', text);
  created.dataset.action = action;
  created.addEventListener('click', onClick);
  return created;
}

async function change(path: string): Promise<void> {
  const status = element('span', 'working…', 'note');
  controls.append(status);
  const response = await fetch(path, { method: 'POST' });
  status.textContent = response.ok ? 'done' : `failed: ${response.status}`;
  if (response.ok && path.endsWith('/kill')) selected = undefined;
  if (latest) drawControls(latest);
}

const events = new EventSource('/network/events');
events.addEventListener('message', (event) => draw(JSON.parse((event as MessageEvent<string>).data) as Snapshot));
events.addEventListener('error', () => controls.replaceChildren(element('span', 'disconnected from this node; retrying…', 'error')));
