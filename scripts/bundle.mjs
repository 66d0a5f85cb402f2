// Bundles the aggregator's compiled program and its dependencies into one ES module,
// packages/aggregator/dist/kestrel-aggregator.mjs, which its image, the e2e tests and the benchmarks run.
//
// Why: the aggregator imports ~1,800 modules, 25 MB of source, half of the modules @kubernetes/client-node's. Node keeps
// every module's source, module record and top-level code, and V8 marks all of it at every full collection: one file
// without comments or indentation costs ~23 MiB less RSS idle and starts faster (docs/BENCHMARKS.md, "Aggregator ingest",
// session 9). Identifiers are kept as they are, so stack traces name the real functions; the source map beside the
// bundle maps them to files under NODE_OPTIONS=--enable-source-maps.
//
// Run after `tsc -b` (make build does both). Usage: node scripts/bundle.mjs
import path from 'node:path';
import { build } from 'esbuild';

const repoRoot = path.resolve(import.meta.dirname, '..');
const aggregatorDir = path.join(repoRoot, 'packages/aggregator');

const aggregatorBundle = path.join(aggregatorDir, 'dist/kestrel-aggregator.mjs');

await build({
  entryPoints: [path.join(aggregatorDir, 'dist/main.js')],
  outfile: aggregatorBundle,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  sourcemap: 'linked',
  // CommonJS dependencies call require(); an ES module has none, so the bundle makes one for its own place.
  banner: { js: "import { createRequire as __kestrelCreateRequire } from 'node:module'; const require = __kestrelCreateRequire(import.meta.url);" },
  // Optional native speed-ups that ws tries to load and does without.
  external: ['bufferutil', 'utf-8-validate'],
  logLevel: 'warning',
});
