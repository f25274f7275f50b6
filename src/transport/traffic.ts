interface Count {
  messages: number;
  bytes: number;
}

/**
 * Messages and bytes one node sent, in total and by label: the message kind
 * and, where there is one, the route (`request:<route>`, `response:<route>`,
 * `hello`, `datagram:ping`, …). Counting by kind then route avoids building a
 * label string per message.
 */
export class TrafficCounters {
  messagesSent = 0;
  bytesSent = 0;
  private readonly byKind = new Map<string, Map<string, Count>>();

  /** Kinds and routes come from this node's own code and routes, so the maps stay small. */
  record(kind: string, route: string, bytes: number): void {
    this.messagesSent += 1;
    this.bytesSent += bytes;
    let routes = this.byKind.get(kind);
    if (!routes) this.byKind.set(kind, (routes = new Map()));
    const count = routes.get(route);
    if (count) {
      count.messages += 1;
      count.bytes += bytes;
    } else {
      routes.set(route, { messages: 1, bytes });
    }
  }

  /** Messages and bytes sent on `route` as requests or notifications (not responses); builds no labels, for callers that ask often. */
  sentOn(route: string): Count {
    const total = { messages: 0, bytes: 0 };
    for (const [kind, routes] of this.byKind) {
      const count = kind === 'response' ? undefined : routes.get(route);
      if (!count) continue;
      total.messages += count.messages;
      total.bytes += count.bytes;
    }
    return total;
  }

  byLabel(): Record<string, Count> {
    const labels: Record<string, Count> = {};
    for (const [kind, routes] of this.byKind) {
      for (const [route, count] of routes) labels[route ? `${kind}:${route}` : kind] = { ...count };
    }
    return labels;
  }
}
