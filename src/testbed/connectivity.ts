/**
 * Connected components of the known-host graph, taken as undirected: two nodes
 * are linked when either knows the other. Union-find keeps it near-linear, so
 * it can be sampled every second on 10,000 nodes.
 */
export function largestComponentSize(nodeIds: readonly string[], neighbours: (id: string) => readonly string[]): number {
  const indexOf = new Map<string, number>();
  nodeIds.forEach((id, index) => indexOf.set(id, index));
  const parent = Int32Array.from(nodeIds, (_id, index) => index);
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
  nodeIds.forEach((id, index) => {
    for (const neighbour of neighbours(id)) {
      const other = indexOf.get(neighbour);
      if (other === undefined) continue; // a dead host still listed: not part of the live graph
      const a = find(index);
      const b = find(other);
      if (a !== b) parent[a] = b;
    }
  });
  const sizes = new Map<number, number>();
  let largest = 0;
  for (let index = 0; index < nodeIds.length; index += 1) {
    const root = find(index);
    const size = (sizes.get(root) ?? 0) + 1;
    sizes.set(root, size);
    if (size > largest) largest = size;
  }
  return largest;
}
