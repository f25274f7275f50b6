/**
 * Connected components of the known-host graph, taken as undirected: two nodes
 * are linked when either knows the other. Union-find keeps it near-linear, so
 * it can be sampled every second on 10,000 nodes.
 */
export function largestComponentSize(nodeIds: readonly string[], neighbours: (id: string) => readonly string[]): number {
  const count = nodeIds.length;
  const indexOf = new Map<string, number>();
  const parent = new Int32Array(count);
  for (let index = 0; index < count; index += 1) {
    indexOf.set(nodeIds[index] as string, index);
    parent[index] = index;
  }
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
  for (let index = 0; index < count; index += 1) {
    const linked = neighbours(nodeIds[index] as string);
    for (let position = 0; position < linked.length; position += 1) {
      const other = indexOf.get(linked[position] as string);
      if (other === undefined) continue; // a dead host still listed: not part of the live graph
      const a = find(index);
      const b = find(other);
      if (a !== b) parent[a] = b;
    }
  }
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
