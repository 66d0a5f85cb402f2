// Where the tests' samples of real log files are: this package's testdata/ folder, and the shared one beside the
// repository (../shared/testdata, with the conmon sample).
import fs from 'node:fs';
import path from 'node:path';

function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!fs.existsSync(path.join(dir, 'pnpm-workspace.yaml'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

export const agentSample = (file: string): string => path.join(repoRoot(), 'packages', 'agent', 'testdata', file);
export const sharedSample = (file: string): string => path.join(repoRoot(), '..', 'shared', 'testdata', file);
