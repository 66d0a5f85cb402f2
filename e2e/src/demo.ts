// `make demo`: a whole Kestrel system on this machine, no cluster needed. A temporary node folder in which a few
// simulated pods keep writing CRI lines; cloud-dev, an aggregator and an agent on loopback; one live line a
// second with lines written, lines received by cloud-dev, and lag. With DEMO_SECONDS=N it stops by itself after N
// seconds, waits for the last lines, and exits non-zero if any written line was not received.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createContainers, criTimestamp, type SimulatedContainer } from './harness/pod-writer.js';
import { StoreTail } from './harness/store-tail.js';
import { childProcessGroups } from './harness/process.js';
import { startSystem } from './harness/system.js';

const seconds = process.env.DEMO_SECONDS ? Number(process.env.DEMO_SECONDS) : undefined;
if (seconds !== undefined && !(Number.isInteger(seconds) && seconds > 0)) {
  process.stderr.write(`invalid setting DEMO_SECONDS: expected a whole number of seconds (got ${JSON.stringify(process.env.DEMO_SECONDS)})\n`);
  process.exit(2);
}
const linesPerSecond = Number(process.env.DEMO_LINES_PER_SECOND ?? 2000);

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-demo-'));
process.stdout.write(`kestrel demo: node folder and logs in ${workDir}\n`);
// Ctrl-C reaches this process only: it waits for the last lines, then stops the others in order.
childProcessGroups.own = true;
const system = await startSystem({ workDir, nodeName: 'demo-node', heartbeatInterval: '5s' });
process.stdout.write(`cloud-dev ${system.cloudAddress}   aggregator ${system.ingestAddress}   agent node demo-node\n`);
process.stdout.write(`try: node packages/agent/dist/bundle/kestrel-agent.mjs debug status --socket ${system.agentAdminSocket}\n\n`);

const containers: SimulatedContainer[] = createContainers(system.podsRoot, [
  { namespace: 'shop', pod: 'checkout-7d9f8-abcde', containers: ['app', 'envoy'] },
  { namespace: 'shop', pod: 'cart-5c6d7-fghij', containers: ['app'] },
  { namespace: 'payments', pod: 'ledger-0', containers: ['app'] },
]);

let written = 0;
const tick = 100;
let carry = 0;
const writer = setInterval(() => {
  carry += (linesPerSecond * tick) / 1000;
  const n = Math.floor(carry);
  carry -= n;
  for (let i = 0; i < n; i++) {
    const c = containers[i % containers.length]!;
    const seq = ++c.written;
    const now = Date.now();
    const level = seq % 50 === 0 ? 'error' : 'info';
    const msg = seq % 3 === 0 ? JSON.stringify({ level, msg: 'order placed', seq, t: now }) + ` t=${now}` : `${level.toUpperCase()} request handled path=/api/items/${seq % 97} seq=${seq} t=${now}`;
    fs.appendFileSync(c.file, `${criTimestamp(now, seq % 1_000_000)} ${seq % 10 === 0 ? 'stderr' : 'stdout'} F ${msg}\n`);
    written++;
  }
}, tick);

const tail = new StoreTail(system.dataDir);
const started = Date.now();
const show = (final = false) => {
  tail.poll();
  const elapsed = Math.round((Date.now() - started) / 1000);
  const line = `[${String(elapsed).padStart(4)}s] written ${written}   received by cloud-dev ${tail.entries}   behind ${written - tail.entries} lines   lag ${tail.lastLagMs} ms`;
  // On a terminal the line updates in place; in a log (CI, a pipe) each update is its own line.
  process.stdout.write(final || !process.stdout.isTTY ? `${line}\n` : `\r${line}   `);
};
const live = setInterval(show, 1000);

let stopping = false;
async function finish(reason: string): Promise<never> {
  if (stopping) process.exit(130);
  stopping = true;
  clearInterval(writer);
  // Give the pipeline time to deliver what was written last (at most 30 s).
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    tail.poll();
    if (tail.entries >= written) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  clearInterval(live);
  show(true);
  await system.stop();
  const ok = tail.entries === written;
  process.stdout.write(`${reason}: written ${written}, received ${tail.entries} -> ${ok ? 'every line arrived' : `${written - tail.entries} lines missing`}\n`);
  process.exit(ok ? 0 : 1);
}

process.on('SIGINT', () => void finish('interrupted'));
process.on('SIGTERM', () => void finish('terminated'));
if (seconds !== undefined) setTimeout(() => void finish(`stopped after ${seconds} s`), seconds * 1000);
