import { InvalidArgumentError } from '../errors.js';

/** Parses a per-node, per-second chance to die: `0.02`, `1/50` or `2%`. */
export function parseChance(text: string): number {
  const trimmed = text.trim();
  let value: number;
  const fraction = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(trimmed);
  if (fraction) value = Number(fraction[1]) / Number(fraction[2]);
  else if (trimmed.endsWith('%')) value = Number(trimmed.slice(0, -1)) / 100;
  else value = trimmed === '' ? NaN : Number(trimmed);
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new InvalidArgumentError(`chance must be a probability like 0.02, 1/50 or 2%, got "${text}"`);
  }
  return value;
}

/** A crash of the machine (silent, the original's) or of the process (its OS ends its connections); a graceful leave. */
export type DeathKind = 'crash' | 'kill' | 'leave';

/** What a crash is on the simulator; on real sockets a crash always drops the node's sockets, as a killed process does. */
export type CrashKind = 'machine' | 'process';

/**
 * The original experiment's churn: every second each node dies with `chance`;
 * a fresh node replaces every dead one so the population stays constant.
 * Deaths are crash-stop unless `gracefulFraction` of them are graceful leaves.
 */
export interface ChurnPlan {
  chance: number;
  churnSeconds: number;
  /** Share of deaths that are graceful leaves instead of crashes, 0..1. */
  gracefulFraction: number;
  /** Whether a crash silences the machine (default) or kills the process. */
  crash: CrashKind;
  /** Replace each dead node with a fresh one (default true). */
  replace: boolean;
}

export const noChurn: ChurnPlan = { chance: 0, churnSeconds: 0, gracefulFraction: 0, crash: 'machine', replace: true };

/** Draws who dies this second; `draw()` is a uniform [0, 1) source. */
export function pickDeaths<T>(population: readonly T[], plan: ChurnPlan, draw: () => number): Array<{ member: T; kind: DeathKind }> {
  const deaths: Array<{ member: T; kind: DeathKind }> = [];
  if (plan.chance <= 0) return deaths;
  for (const member of population) {
    const crash = plan.crash === 'process' ? 'kill' : 'crash';
    if (draw() < plan.chance) deaths.push({ member, kind: draw() < plan.gracefulFraction ? 'leave' : crash });
  }
  return deaths;
}
