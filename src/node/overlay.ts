import type { ButterNode } from './node.js';

/**
 * An overlay wraps a node and adds behaviour on top of it (the default one
 * stores and finds data). Route handlers and client behaviours receive the
 * overlay, so they reach both the node and whatever the overlay adds.
 */
export interface Overlay {
  readonly node: ButterNode;
  /** Bytes of block storage still free, announced in the node's host quality. */
  availableStorageBytes(): number;
  /** Called once the node listens, before client behaviours start. */
  start?(): Promise<void> | void;
  /** Graceful leave: hand data over to other hosts before the node closes its connections. */
  leave?(): Promise<void> | void;
}

export type OverlayFactory = (node: ButterNode) => Overlay;

/** An overlay that adds nothing: the node alone, with all of its storage free. */
export function basicOverlay(node: ButterNode): Overlay {
  return {
    node,
    availableStorageBytes: () => node.memory.storageBytes,
  };
}
