import { formatAddress } from '../runtime/types.js';
import type { WikiNode } from './wiki.js';
import { summariseGroup } from './wiki.js';
import type { GroupSummary } from './wiki-messages.js';

/** What the network view draws (docs/API.md, "Network view"): nodes, known-host edges, groups and their states. */
export interface NetworkSnapshot {
  /** The node whose page this is. */
  self: string;
  nodes: Array<{ id: string; label: string; address: string; ambassador: boolean; wikiUrl?: string }>;
  /** Known-host edges: `from` knows `to`. */
  edges: Array<{ from: string; to: string }>;
  groups: Array<GroupSummary & { title?: string }>;
  /** The demo network can kill and add nodes; a real node only shows its neighbourhood. */
  canChange: boolean;
}

export interface NetworkSource {
  snapshot(selfId: string): NetworkSnapshot;
  label(id: string): string;
  /** Kills a node (no graceful hand-over), in the demo network only. */
  kill?(id: string): Promise<void>;
  /** Adds a node, in the demo network only; resolves with its id. */
  add?(): Promise<string>;
}

/** A real node's neighbourhood: itself, the hosts it knows, and the groups it is in. */
export function neighbourhood(node: WikiNode, titleOf: (contentId: string) => string | undefined): NetworkSource {
  return {
    label: (id) => (id === node.id ? `this node ${id.slice(0, 8)}` : id.slice(0, 8)),
    snapshot(selfId) {
      const hosts = node.knownHosts.list();
      return {
        self: selfId,
        nodes: [
          { id: node.id, label: `this node ${node.id.slice(0, 8)}`, address: formatAddress(node.address), ambassador: node.quality().ambassador },
          ...hosts.map((host) => ({ id: host.id, label: host.id.slice(0, 8), address: formatAddress(host.address), ambassador: host.quality?.ambassador ?? false })),
        ],
        edges: hosts.map((host) => ({ from: node.id, to: host.id })),
        groups: node.services.storage.groups().map((group) => withTitle(summariseGroup(group), titleOf)),
        canChange: false,
      };
    },
  };
}

/** Names a group by the article title of its content, when known. */
export function withTitle(group: GroupSummary, titleOf: (contentId: string) => string | undefined): GroupSummary & { title?: string } {
  const title = titleOf(group.key.slice(0, group.key.lastIndexOf(':')));
  return title === undefined ? group : { ...group, title };
}
