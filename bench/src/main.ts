// `make bench`: runs every benchmark in this folder (files named *.bench.js after the build), one after the other
// in its own process so that one's memory does not count against the next, and prints their figures. Give names
// to run only some: `make bench BENCH=logs`. Figures are printed, never asserted: record them in
// docs/BENCHMARKS.md with the machine and the command.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const only = (process.env.BENCH ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const here = import.meta.dirname;
const benches = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => only.length === 0 || only.includes(f.replace(/\.bench\.js$/, '')))
  .sort();

process.stdout.write(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}\n`);
if (benches.length === 0) {
  process.stderr.write(only.length ? `no benchmark named ${only.join(', ')}\n` : 'no benchmarks built\n');
  process.exit(1);
}
let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n== ${file.replace(/\.bench\.js$/, '')} ==\n`);
  const result = spawnSync(process.execPath, ['--expose-gc', path.join(here, file)], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
