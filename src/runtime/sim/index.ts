export { Simulation, type HostOptions, type HostRef, type SimulationOptions } from './simulation.js';
export { SimRuntime } from './host.js';
export { DEFAULT_LINK_CONDITIONS, type LinkConditions, type SimStats } from './network.js';
export { SeededRandom, deriveSeed } from './random.js';
export { END_LINGER_MS, RETRANSMIT_TIMEOUT_MS } from './streams.js';
export type { SimDisk } from './disk.js';
