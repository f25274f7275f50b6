import type { Experiment } from '../experiment.js';
import { ambassadorsExperiment } from './ambassadors.js';
import { churnExperiment } from './churn.js';
import { discoveryExperiment } from './discovery.js';
import { diversityExperiment } from './diversity.js';
import { heartbeatExperiment } from './heartbeat.js';
import { keywordsExperiment } from './keywords.js';
import { popularityExperiment } from './popularity.js';
import { retrievalExperiment } from './retrieval.js';

/** Every experiment `butter testbed` offers; add one here and it gets the whole runner. */
export const experiments: Experiment[] = [discoveryExperiment, diversityExperiment, churnExperiment, heartbeatExperiment, retrievalExperiment, keywordsExperiment, ambassadorsExperiment, popularityExperiment];
