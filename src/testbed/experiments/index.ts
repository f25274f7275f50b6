import type { Experiment } from '../experiment.js';
import { discoveryExperiment } from './discovery.js';
import { diversityExperiment } from './diversity.js';

/** Every experiment `butter testbed` offers; add one here and it gets the whole runner. */
export const experiments: Experiment[] = [discoveryExperiment, diversityExperiment];
