/**
 * Connected components of the known-host graph, taken as undirected: two nodes
 * are linked when either knows the other. Union-find keeps it near-linear.
 */

/** Size of the largest component of vertices `0 … count−1`; `linkEdges(link)` calls `link(a, b)` for every edge. */
function largestComponentOf(count: number, linkEdges: (link: (a: number, b: number) => void) => void): number {
  const parent = new Int32Array(count);
  for (let index = 0; index < count; index += 1) parent[index] = index;
  const find = (index: number): number => {
    let root = index;
    while (parent[root] !== root) root = parent[root] as number;
    while (parent[index] !== root) {
      const next = parent[index] as number;
      parent[index] = root;
      index = next;
    }
    return root;
  };
  linkEdges((a, b) => {
    const rootA = find(a);
    const rootB = find(b);
    if (rootA !== rootB) parent[rootA] = rootB;
  });
  const sizes = new Int32Array(count);
  let largest = 0;
  for (let index = 0; index < count; index += 1) {
    const root = find(index);
    const size = (sizes[root] as number) + 1;
    sizes[root] = size;
    if (size > largest) largest = size;
  }
  return largest;
}

/** Largest component of a graph given by node ids and each node's neighbours; ids not in `nodeIds` (dead hosts) are ignored. */
export function largestComponentSize(nodeIds: readonly string[], neighbours: (id: string) => readonly string[]): number {
  const indexOf = new Map<string, number>();
  for (let index = 0; index < nodeIds.length; index += 1) indexOf.set(nodeIds[index] as string, index);
  return largestComponentOf(nodeIds.length, (link) => {
    for (let index = 0; index < nodeIds.length; index += 1) {
      for (const id of neighbours(nodeIds[index] as string)) {
        const other = indexOf.get(id);
        if (other !== undefined) link(index, other);
      }
    }
  });
}

/** What the graph reads of a node: its id and its known-host list, which says when it changes. */
export interface GraphNode {
  readonly id: string;
  readonly knownHosts: { list(): ReadonlyArray<{ readonly id: string }>; onChange(listener: () => void): () => void };
}

interface Vertex {
  /** Unset once the node is seen dead: a dead vertex keeps no node alive. */
  node: GraphNode | undefined;
  neighbours: Vertex[];
  /** Length of the list `neighbours` was built from. */
  listSize: number;
  /** Build `neighbours` again: the list changed, or some listed id belonged to no node seen yet (one still joining). */
  stale: boolean;
  /** The sample in which the vertex was last seen alive, and its position then. */
  stamp: number;
  position: number;
}

/**
 * The known-host graph of a changing population, sampled every second on
 * thousands of nodes. Each node's neighbours are kept as vertices and built
 * again only when its list says it changed, so a sample is one pass over the
 * graph's own small objects: no string lookup per edge, and no visit to each
 * node's objects scattered through a heap of gigabytes.
 */
export class KnownHostGraph {
  /** Every node seen, dead ones included: an id is never reused, so a listed dead id resolves to its dead vertex. */
  private readonly byId = new Map<string, Vertex>();
  private live: Vertex[] = [];
  private stamp = 0;

  /** One sample of `nodes` (the live population): the share in the largest component (0..1) and the mean list length. */
  sample(nodes: readonly GraphNode[]): { largestComponent: number; meanListSize: number } {
    if (nodes.length === 0) return { largestComponent: 0, meanListSize: 0 };
    const stamp = ++this.stamp;
    const previous = this.live;
    let cursor = 0;
    const live = nodes.map((node, position) => {
      // A population keeps its order from sample to sample, minus the dead, plus newcomers at the end:
      // walking the previous sample alongside finds most vertices without hashing a 64-character id.
      while (cursor < previous.length && (previous[cursor] as Vertex).node !== node) cursor += 1;
      const vertex = cursor < previous.length ? (previous[cursor++] as Vertex) : this.vertexOf(node);
      vertex.stamp = stamp;
      vertex.position = position;
      return vertex;
    });
    for (const vertex of previous) {
      if (vertex.stamp === stamp) continue;
      vertex.node = undefined;
      vertex.neighbours = [];
    }
    this.live = live;
    let listSizes = 0;
    const size = largestComponentOf(live.length, (link) => {
      for (const vertex of live) {
        const neighbours = this.neighboursOf(vertex);
        listSizes += vertex.listSize;
        for (const neighbour of neighbours) if (neighbour.stamp === stamp) link(vertex.position, neighbour.position);
      }
    });
    return { largestComponent: size / live.length, meanListSize: listSizes / live.length };
  }

  private vertexOf(node: GraphNode): Vertex {
    let vertex = this.byId.get(node.id);
    if (vertex === undefined) {
      vertex = { node, neighbours: [], listSize: 0, stale: true, stamp: 0, position: 0 };
      this.byId.set(node.id, vertex);
    } else if (vertex.node === node) {
      return vertex;
    } else {
      // The same identity back in another node object (a restart): its list is another list.
      vertex.node = node;
      vertex.stale = true;
    }
    const watched = vertex;
    node.knownHosts.onChange(() => {
      watched.stale = true;
    });
    return vertex;
  }

  private neighboursOf(vertex: Vertex): Vertex[] {
    if (!vertex.stale) return vertex.neighbours;
    vertex.stale = false;
    vertex.neighbours = [];
    const listed = (vertex.node as GraphNode).knownHosts.list();
    vertex.listSize = listed.length;
    for (const host of listed) {
      const neighbour = this.byId.get(host.id);
      if (neighbour === undefined) vertex.stale = true;
      else vertex.neighbours.push(neighbour);
    }
    return vertex.neighbours;
  }
}
