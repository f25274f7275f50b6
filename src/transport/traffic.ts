/** Messages and bytes one node sent, in total and by label (`request:<route>`, `response:<route>`, `hello`, …). */
export class TrafficCounters {
  messagesSent = 0;
  bytesSent = 0;
  private readonly labels = new Map<string, { messages: number; bytes: number }>();

  /** Labels come from the node's own routes and message kinds, so the map stays small. */
  record(label: string, bytes: number): void {
    this.messagesSent += 1;
    this.bytesSent += bytes;
    const entry = this.labels.get(label);
    if (entry) {
      entry.messages += 1;
      entry.bytes += bytes;
    } else {
      this.labels.set(label, { messages: 1, bytes });
    }
  }

  byLabel(): Record<string, { messages: number; bytes: number }> {
    return Object.fromEntries([...this.labels].map(([label, entry]) => [label, { ...entry }]));
  }
}
