// Paths of the built programs, found from this file's place in the repository.
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '../../..');
export const programs = {
  cloudDev: path.join(repoRoot, 'packages/cloud-dev/dist/main.js'),
  // The bundle that the aggregator's image runs (scripts/bundle.mjs, made by make build).
  aggregator: path.join(repoRoot, 'packages/aggregator/dist/kestrel-aggregator.mjs'),
  // The agent's bundle, as its image runs it (scripts/bundle.mjs; the Kubernetes client is a chunk it imports lazily).
  agent: path.join(repoRoot, 'packages/agent/dist/bundle/kestrel-agent.mjs'),
};
