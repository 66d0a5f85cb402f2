// Bundles the compiled programs and their dependencies into ES modules, which their images, the e2e tests and the
// benchmarks run:
//   aggregator: packages/aggregator/dist/kestrel-aggregator.mjs, one file;
//   agent:      packages/agent/dist/bundle/kestrel-agent.mjs, plus the chunks it imports. The agent imports
//               @kubernetes/client-node only when it has Kubernetes access (sources/node/config.ts), so the bundle is
//               split at dynamic imports: the client is a chunk of its own, read only when imported.
//
// Why: Node keeps every module's source, module record and top-level code, and V8 marks all of it at every full
// collection. The aggregator imports ~1,800 modules (25 MB of source, half of them the Kubernetes client's); as one
// file without comments or indentation it costs ~23 MiB less RSS idle and starts faster (docs/BENCHMARKS.md,
// "Aggregator ingest", session 9; the agent's figures: "Idle files", session 10). Identifiers are kept as they are,
// so stack traces name the real functions; the source maps beside the bundles map them to files under
// NODE_OPTIONS=--enable-source-maps.
//
// Run after `tsc -b` (make build does both). Usage: node scripts/bundle.mjs [aggregator|agent]... (default: both;
// an image's build bundles only its own program, the only one it compiled).
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const repoRoot = path.resolve(import.meta.dirname, '..');

/** What every bundle shares. */
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  sourcemap: 'linked',
  // CommonJS dependencies call require(); an ES module has none, so each output file makes one for its own place.
  banner: { js: "import { createRequire as __kestrelCreateRequire } from 'node:module'; const require = __kestrelCreateRequire(import.meta.url);" },
  // Optional native speed-ups that ws tries to load and does without.
  external: ['bufferutil', 'utf-8-validate'],
  logLevel: 'warning',
};

const programs = {
  aggregator: () =>
    build({
      ...common,
      entryPoints: [path.join(repoRoot, 'packages/aggregator/dist/main.js')],
      outfile: path.join(repoRoot, 'packages/aggregator/dist/kestrel-aggregator.mjs'),
    }),
  agent: () => {
    const outdir = path.join(repoRoot, 'packages/agent/dist/bundle');
    // Chunks are named by their content's hash: without this, every build would leave the last one's behind.
    fs.rmSync(outdir, { recursive: true, force: true });
    return build({
      ...common,
      entryPoints: { 'kestrel-agent': path.join(repoRoot, 'packages/agent/dist/main.js') },
      outdir,
      outExtension: { '.js': '.mjs' },
      splitting: true,
      chunkNames: 'chunk-[hash]',
    });
  },
};

const chosen = process.argv.slice(2);
for (const name of chosen) if (!(name in programs)) throw new Error(`bundle.mjs: unknown program ${name} (expected ${Object.keys(programs).join(' or ')})`);
for (const name of chosen.length > 0 ? chosen : Object.keys(programs)) await programs[name]();
