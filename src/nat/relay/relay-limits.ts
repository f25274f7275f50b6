export interface RelayOptions {
  /** Reservations held in all. Default 128. */
  maxReservations: number;
  /** Reservations per IP the holders connect from (one NAT, or one attacker). Default 8. */
  maxReservationsPerAddress: number;
  /** A reservation lapses unless renewed within this. Default 60 s. */
  reservationTtlMs: number;
  /** Circuits open at once in all. Default 256. */
  maxCircuits: number;
  /** Circuits one IP may have open at once, counting both ends. Default 16. */
  maxCircuitsPerAddress: number;
  /** Bytes one circuit may carry, both directions: enough for a few 4 KiB block requests and their framing. Default 1 MiB. */
  maxCircuitBytes: number;
  /** A circuit is closed this long after it opened. Default 120 s. */
  maxCircuitDurationMs: number;
}

export const defaultRelayOptions: RelayOptions = {
  maxReservations: 128,
  maxReservationsPerAddress: 8,
  reservationTtlMs: 60_000,
  maxCircuits: 256,
  maxCircuitsPerAddress: 16,
  maxCircuitBytes: 1024 * 1024,
  maxCircuitDurationMs: 120_000,
};

/** Why an Ambassador will not relay; each is sent on the wire as is (docs/PROTOCOL.md). */
export type RelayRefusal =
  | 'reservations-full'
  | 'address-reservations-full'
  | 'no-reservation'
  | 'circuits-full'
  | 'address-circuits-full'
  | 'circuit-bytes-exceeded'
  | 'circuit-expired'
  | 'unknown-circuit';

export const relayRefusals: readonly RelayRefusal[] = [
  'reservations-full',
  'address-reservations-full',
  'no-reservation',
  'circuits-full',
  'address-circuits-full',
  'circuit-bytes-exceeded',
  'circuit-expired',
  'unknown-circuit',
];

interface Reservation {
  readonly holderId: string;
  readonly holderAddress: string;
  renewedAtMs: number;
}

export interface Circuit {
  readonly id: number;
  readonly sourceId: string;
  readonly targetId: string;
  readonly sourceAddress: string;
  readonly targetAddress: string;
  readonly openedAtMs: number;
  bytes: number;
}

/**
 * The relay's admission decisions, sans-IO: who holds a reservation (a node
 * behind NAT keeping a connection to this Ambassador open so others can reach
 * it), which circuits are open between whom, and when one must close. Every
 * map is bounded by the options; every refusal is a `RelayRefusal`.
 */
export class RelayLimits {
  private readonly reservations = new Map<string, Reservation>();
  private readonly circuits = new Map<number, Circuit>();
  private readonly reservationsByAddress = new Map<string, number>();
  private readonly circuitsByAddress = new Map<string, number>();
  private nextCircuitId = 1;

  constructor(readonly options: RelayOptions = defaultRelayOptions) {}

  get reservationCount(): number {
    return this.reservations.size;
  }

  get circuitCount(): number {
    return this.circuits.size;
  }

  /** Grants or renews `holderId`'s reservation, seen connecting from `holderAddress`. */
  reserve(holderId: string, holderAddress: string, nowMs: number): RelayRefusal | undefined {
    this.expireReservations(nowMs);
    const held = this.reservations.get(holderId);
    if (held && held.holderAddress === holderAddress) {
      held.renewedAtMs = nowMs;
      return undefined;
    }
    if (held) this.release(holderId);
    if (this.reservations.size >= this.options.maxReservations) return 'reservations-full';
    if ((this.reservationsByAddress.get(holderAddress) ?? 0) >= this.options.maxReservationsPerAddress) return 'address-reservations-full';
    this.reservations.set(holderId, { holderId, holderAddress, renewedAtMs: nowMs });
    increment(this.reservationsByAddress, holderAddress, 1);
    return undefined;
  }

  hasReservation(holderId: string, nowMs: number): boolean {
    this.expireReservations(nowMs);
    return this.reservations.has(holderId);
  }

  release(holderId: string): void {
    const held = this.reservations.get(holderId);
    if (!held) return;
    this.reservations.delete(holderId);
    increment(this.reservationsByAddress, held.holderAddress, -1);
  }

  /** Opens a circuit from `sourceId` to the reservation holder `targetId`, or says why not. */
  open(sourceId: string, sourceAddress: string, targetId: string, nowMs: number): Circuit | RelayRefusal {
    if (!this.hasReservation(targetId, nowMs)) return 'no-reservation';
    if (this.circuits.size >= this.options.maxCircuits) return 'circuits-full';
    const targetAddress = (this.reservations.get(targetId) as Reservation).holderAddress;
    const perAddress = this.options.maxCircuitsPerAddress;
    if ((this.circuitsByAddress.get(sourceAddress) ?? 0) >= perAddress || (this.circuitsByAddress.get(targetAddress) ?? 0) >= perAddress) {
      return 'address-circuits-full';
    }
    const circuit: Circuit = { id: this.nextCircuitId++, sourceId, targetId, sourceAddress, targetAddress, openedAtMs: nowMs, bytes: 0 };
    this.circuits.set(circuit.id, circuit);
    increment(this.circuitsByAddress, sourceAddress, 1);
    increment(this.circuitsByAddress, targetAddress, 1);
    return circuit;
  }

  /**
   * `fromId` sends `byteLength` bytes on circuit `circuitId`: the id of the
   * other end to forward to, or why the circuit is refused (it is then closed).
   */
  carry(circuitId: number, fromId: string, byteLength: number, nowMs: number): { toId: string } | RelayRefusal {
    const circuit = this.circuits.get(circuitId);
    if (!circuit || (fromId !== circuit.sourceId && fromId !== circuit.targetId)) return 'unknown-circuit';
    if (nowMs - circuit.openedAtMs >= this.options.maxCircuitDurationMs) {
      this.close(circuitId);
      return 'circuit-expired';
    }
    if (circuit.bytes + byteLength > this.options.maxCircuitBytes) {
      this.close(circuitId);
      return 'circuit-bytes-exceeded';
    }
    circuit.bytes += byteLength;
    return { toId: fromId === circuit.sourceId ? circuit.targetId : circuit.sourceId };
  }

  get(circuitId: number): Circuit | undefined {
    return this.circuits.get(circuitId);
  }

  close(circuitId: number): Circuit | undefined {
    const circuit = this.circuits.get(circuitId);
    if (!circuit) return undefined;
    this.circuits.delete(circuitId);
    increment(this.circuitsByAddress, circuit.sourceAddress, -1);
    increment(this.circuitsByAddress, circuit.targetAddress, -1);
    return circuit;
  }

  /** Circuits past their duration, closed and returned so both ends can be told. */
  expireCircuits(nowMs: number): Circuit[] {
    const expired: Circuit[] = [];
    for (const circuit of [...this.circuits.values()]) {
      if (nowMs - circuit.openedAtMs >= this.options.maxCircuitDurationMs) expired.push(this.close(circuit.id) as Circuit);
    }
    return expired;
  }

  /** Circuits that touch node `id` (closed when it goes away). */
  circuitsOf(id: string): Circuit[] {
    return [...this.circuits.values()].filter((circuit) => circuit.sourceId === id || circuit.targetId === id);
  }

  private expireReservations(nowMs: number): void {
    const oldestMs = nowMs - this.options.reservationTtlMs;
    for (const reservation of [...this.reservations.values()]) if (reservation.renewedAtMs <= oldestMs) this.release(reservation.holderId);
  }
}

function increment(counts: Map<string, number>, key: string, delta: number): void {
  const next = (counts.get(key) ?? 0) + delta;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}
