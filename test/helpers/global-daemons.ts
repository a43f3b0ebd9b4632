/**
 * vitest's global setup: at the end of a run, stops the berth daemons that the CNI clients of this
 * tree's dist/cni started in any netns (the tests' throwaway ones are stopped with them already; this
 * is for calls made in the test process's own netns). Daemons of other folders are not this run's.
 */
import { DIST_CNI } from './cni.js';
import { stopDaemons } from './daemon.js';

export function teardown(): void {
  stopDaemons({ pluginDir: DIST_CNI });
}
