import type { DefaultServices } from '../node/create.js';
import type { ButterNode } from '../node/node.js';

/**
 * The one place the command finds content in the network: the retrieval
 * service's `retrieve` (informed search, bfs when it misses). The bytes come
 * back verified against the content id (every block's proof and the content
 * hash), or undefined when not every part was found.
 */
export function findContentBytes(node: ButterNode<DefaultServices>, contentId: string): Promise<Uint8Array | undefined> {
  return node.services.retrieval.retrieve(contentId);
}
