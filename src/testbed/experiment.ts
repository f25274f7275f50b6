import type { NodeOptions } from '../node/create.js';
import type { ButterNode } from '../node/node.js';
import type { FactoryMap } from '../node/service.js';
import type { LinkConditions } from '../runtime/sim/index.js';
import type { ChurnPlan } from './churn.js';
import type { ChurnClock, Invariant } from './invariants.js';
import type { RuntimeKind, TestNetwork } from './network.js';

/** Options every experiment takes (the command line's common flags). */
export interface CommonParams {
  nodes: number;
  runtime: RuntimeKind;
  seed: number;
  repeat: number;
  /** Time between two joins while the network is built. */
  joinIntervalMs: number;
  warmupSeconds: number;
  churn: ChurnPlan;
  recoverySeconds: number;
  /** Nodes per simulated multicast domain. */
  subnetSize: number;
  /** Simulated link conditions set on the command line; the simulator's defaults otherwise. */
  link: Partial<LinkConditions>;
  /** A partition of `fraction` of the nodes from the rest, `startSeconds` into the churn phase, healed after `durationSeconds`. */
  partition: { fraction: number; startSeconds: number; durationSeconds: number } | undefined;
  /** Seconds between two samples of the time series. */
  sampleSeconds: number;
}

export type Params = CommonParams & Record<string, unknown>;

/** One option an experiment adds to the common ones. */
export interface ExperimentOption {
  /** Commander flag, e.g. `--capacity <hosts>`. */
  flag: string;
  /** Key in params. */
  key: string;
  description: string;
  defaultValue: unknown;
  parse?: (text: string) => unknown;
}

/** A labelled variation of the parameters: experiments like `diversity` compare several. */
export interface ExperimentCase {
  label: string;
  overrides: Partial<Params>;
}

export type Phase = 'join' | 'warm-up' | 'churn' | 'recovery' | 'measurement';

export interface Figures {
  [name: string]: number;
}

export interface Experiment {
  readonly name: string;
  readonly description: string;
  readonly options: ExperimentOption[];
  /** Defaults of common params this experiment prefers (e.g. fewer nodes). */
  readonly defaults?: Partial<CommonParams>;
  /** Several cases to compare; one unnamed case when absent. */
  cases?(params: Params): ExperimentCase[];
  nodeOptions(index: number, params: Params, network: TestNetwork): NodeOptions<FactoryMap>;
  /** A seat's simulated host: its own subnet, or behind its LAN's NAT (default: its LAN, no NAT). */
  hostOf?(index: number, params: Params): { subnet?: string; behindNat?: boolean };
  /** Registers routes and behaviours, then spawns the node (default: just spawns it). */
  setupNode?(node: ButterNode, index: number, params: Params): Promise<void>;
  /** Once every node has joined, before warm-up (e.g. store the items). */
  afterJoin?(network: TestNetwork, params: Params): Promise<void>;
  /** Runs in each second of churn, after that second's deaths and replacements: work that must meet churn (e.g. queries). */
  duringChurn?(network: TestNetwork, params: Params, second: number): Promise<void>;
  /** A point of the time series, taken every `sampleSeconds` in every phase. */
  sample?(network: TestNetwork, params: Params): Figures;
  /**
   * Checkers this experiment adds to the generic ones, evaluated at every sample
   * of one run (made afresh per run; `clock` says when its churn ended).
   */
  invariants?(params: Params, clock: ChurnClock): Invariant[];
  /** The final figures, after recovery. */
  measure(network: TestNetwork, params: Params): Promise<Figures>;
  /** Which sampled figure `--chart` draws over time. */
  readonly chartFigure?: string;
}
