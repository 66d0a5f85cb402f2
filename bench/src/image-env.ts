// The environment an image runs its process with (NODE_OPTIONS, MALLOC_ARENA_MAX), read from its Dockerfile so that
// a benchmark runs the process as the image does and the two cannot drift.
import fs from 'node:fs';
import path from 'node:path';

export type Image = 'agent' | 'aggregator';

/** The NAME=VALUE pairs of images/<image>.Dockerfile's `ENV` line that sets NODE_OPTIONS. */
export function imageEnv(image: Image): Record<string, string> {
  const file = path.resolve(import.meta.dirname, `../../images/${image}.Dockerfile`);
  const line = /^ENV (.*NODE_OPTIONS=.*)$/m.exec(fs.readFileSync(file, 'utf8'))?.[1];
  if (line === undefined) throw new Error(`images/${image}.Dockerfile: no ENV line with NODE_OPTIONS to run the ${image} as the image does`);
  const env: Record<string, string> = {};
  for (const m of line.matchAll(/([A-Z_][A-Z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  return env;
}

/** The image's environment with more node options after its own (a later flag wins: --cpu-prof, a larger semi-space). */
export function withNodeOptions(env: Record<string, string>, extra: string | undefined): Record<string, string> {
  if (!extra) return env;
  return { ...env, NODE_OPTIONS: env['NODE_OPTIONS'] ? `${env['NODE_OPTIONS']} ${extra}` : extra };
}
