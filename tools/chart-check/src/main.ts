#!/usr/bin/env node
// chart-check: everything CI checks about helm/kestrel-operator, top to bottom (scripts/chart-check.sh runs it):
//   1. values.yaml and every value set in ci/*.yaml against values.schema.json;
//   2. each value set rendered with chart-render, every manifest against the Kubernetes schema of its kind;
//   3. the environment the chart gives each process, loaded by that process's own configuration schema;
//   4. least privilege: the rendered RBAC loaded into the Kubernetes API test server and asked with
//      SubjectAccessReviews what each ServiceAccount can and cannot do, the rules read for wildcards and unasked
//      writes, pod security; how agents prove their node (a bound token for the audience the aggregators review, no
//      client certificate) and the generated internal TLS, used in a real handshake;
//   5. broken copies of the default rendering are caught (the checks can fail);
//   6. every broken value set in ci-invalid/*.yaml fails, with a message naming what its `# expect:` lines say;
//   7. docs/install.md's values reference is what the schema generates (`--write-docs` rewrites it).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkAgentIdentity } from './agent-identity.js';
import { generateValuesReference, replaceBlock } from './docs.js';
import { checkInternalTls } from './internal-tls.js';
import { validateManifest } from './manifests.js';
import { checkMutations, mutationCount } from './mutations.js';
import { checkPodSecurity, images } from './pod-security.js';
import { checkRbac } from './rbac.js';
import { RbacAccessChecker } from './rbac-access.js';
import { ChartRenderer, type Rendered } from './render.js';
import { checkSettings, loadProcessConfigs, type ProcessConfig } from './settings.js';
import { loadSchema, mergeValues, readYaml, type SchemaCheck, type Values } from './values.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const chartDir = path.join(root, 'helm/kestrel-operator');
const docsFile = path.join(root, 'docs/install.md');
const chartRender = process.env.CHART_RENDER ?? path.join(root, '.tools/bin/chart-render');
const writeDocs = process.argv.includes('--write-docs');

let passed = 0;
let failed = 0;
function report(name: string, problems: string[]): void {
  if (problems.length === 0) {
    passed++;
    console.log(`ok   ${name}`);
    return;
  }
  failed++;
  console.log(`FAIL ${name}`);
  for (const p of problems) console.log(`       ${p}`);
}

const get = (values: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), values);
const rel = (file: string) => path.relative(root, file);
const yamlFiles = (dir: string) =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(dir, f)) : [];

function checkDocs(schema: SchemaCheck, base: Values): string[] {
  const { markdown, problems } = generateValuesReference(schema.schema, base);
  if (!fs.existsSync(docsFile)) return [...problems, `${rel(docsFile)} is missing`];
  const doc = fs.readFileSync(docsFile, 'utf8');
  const updated = replaceBlock(doc, markdown);
  if (updated === undefined) return [...problems, `${rel(docsFile)} has no values-reference markers`];
  if (updated !== doc) {
    if (writeDocs) {
      fs.writeFileSync(docsFile, updated);
      console.log(`wrote the values reference of ${rel(docsFile)}`);
    } else problems.push(`${rel(docsFile)} is stale: run \`make chart-docs\` and commit it`);
  }
  return problems;
}

function checkVersions(): string[] {
  const appVersion = String(get(readYaml(path.join(chartDir, 'Chart.yaml')), 'appVersion'));
  const problems: string[] = [];
  for (const pkg of ['agent', 'aggregator']) {
    const version = (JSON.parse(fs.readFileSync(path.join(root, 'packages', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    if (version !== appVersion) problems.push(`packages/${pkg} is ${version} but Chart.yaml appVersion is ${appVersion} (the images are tagged with it)`);
  }
  // The images are built with the Node and pnpm the tests use, and tagged where the chart looks for them.
  const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
  const bootstrap = read('scripts/bootstrap.sh');
  const makefile = read('Makefile');
  for (const dockerfile of ['images/agent.Dockerfile', 'images/aggregator.Dockerfile']) {
    const text = read(dockerfile);
    for (const name of ['NODE_VERSION', 'PNPM_VERSION']) {
      const want = new RegExp(`^${name}=(.+)$`, 'm').exec(bootstrap)?.[1];
      const have = new RegExp(`^ARG ${name}=(.+)$`, 'm').exec(text)?.[1];
      if (have !== want) problems.push(`${dockerfile}: ARG ${name}=${String(have)}, but scripts/bootstrap.sh pins ${String(want)}`);
    }
  }
  const kubectl = /^ARG KUBECTL_VERSION=(.+)$/m.exec(read('images/aggregator.Dockerfile'))?.[1];
  const makeKubectl = /^KUBECTL_VERSION \?= (.+)$/m.exec(makefile)?.[1];
  if (kubectl !== makeKubectl) problems.push(`Makefile KUBECTL_VERSION ${String(makeKubectl)} differs from images/aggregator.Dockerfile's ${String(kubectl)}`);
  const registry = /^IMAGE_REGISTRY \?= (.+)$/m.exec(makefile)?.[1];
  const valuesRegistry = String(get(readYaml(path.join(chartDir, 'values.yaml')), 'image', 'registry'));
  if (registry !== valuesRegistry) problems.push(`Makefile IMAGE_REGISTRY ${String(registry)} differs from the chart's image.registry ${valuesRegistry}`);
  return problems;
}

async function checkValueSet(file: string, base: Values, schema: SchemaCheck, renderer: ChartRenderer, configs: ProcessConfig[], access: RbacAccessChecker): Promise<void> {
  const name = rel(file);
  const given = readYaml(file) as Values;
  const values = mergeValues(base, given);
  const schemaProblems = schema.check(values);
  report(`${name}: values match values.schema.json`, schemaProblems);
  const result = await renderer.render([file]);
  if (!result.ok) {
    report(`${name}: renders`, [result.error]);
    return;
  }
  const { manifests, notes }: Rendered = result.rendered;
  const manifestProblems: string[] = [];
  for (const m of manifests) for (const p of await validateManifest(m)) manifestProblems.push(`${m.source} ${m.kind} ${m.name}: ${p}`);
  report(`${name}: ${manifests.length} manifests valid for their Kubernetes kinds`, manifestProblems);
  report(`${name}: env is exactly settings that kestrel-agent and kestrel-aggregator accept`, checkSettings(manifests, configs));

  const fullname = (get(values, 'fullnameOverride') as string) || renderer.release.name;
  const namespace = renderer.release.namespace;
  report(`${name}: RBAC rules have no wildcard, no escalation verb and no write that no value asks for`, checkRbac(manifests, values, namespace, fullname));
  report(`${name}: SubjectAccessReviews on the API test server: each ServiceAccount can do what it needs, and no Secret, workload write or exec`, await access.check(manifests, values, namespace, fullname));
  const defaults = get(given, 'agent', 'securityContext') === undefined && get(given, 'aggregator', 'securityContext') === undefined;
  report(`${name}: pods${defaults ? ' (default securityContexts)' : ''} are confined`, checkPodSecurity(manifests, { defaults }));
  report(`${name}: agents prove their node with a pod-bound token the aggregators review, and hold no client certificate`, checkAgentIdentity(manifests));

  if (get(values, 'internalTls', 'generate') === true) {
    const problems = await checkInternalTls(manifests, {
      caSecret: `${fullname}-internal-ca`,
      aggregatorSecret: `${fullname}-aggregator-tls`,
      caConfigMap: `${fullname}-internal-ca-cert`,
      serverName: `${fullname}-aggregator.${namespace}.svc.${String(get(values, 'clusterDomain'))}`,
      certValidityDays: Number(get(values, 'internalTls', 'certValidityDays')),
    });
    report(`${name}: internal CA, server certificate and the agents' CA ConfigMap complete a TLS handshake`, problems);
  }

  if (path.basename(file) === 'default.yaml') {
    report(`${name}: ${mutationCount} broken copies of it are each caught by their check`, await checkMutations(manifests, values, namespace, fullname, configs, access));
  }

  const noteProblems: string[] = [];
  for (const expected of [`exec ds/${fullname}-agent -- kestrel-agent debug status`, `-n ${namespace}`]) {
    if (!notes.includes(expected)) noteProblems.push(`NOTES.txt does not say "${expected}"`);
  }
  report(`${name}: NOTES.txt renders and says how to check`, noteProblems);

  if (get(given, 'image') === undefined) {
    const appVersion = String(get(readYaml(path.join(chartDir, 'Chart.yaml')), 'appVersion'));
    const registry = String(get(values, 'image', 'registry'));
    const problems: string[] = [];
    for (const [container, repository] of [
      ['agent', get(values, 'agent', 'image', 'repository')],
      ['aggregator', get(values, 'aggregator', 'image', 'repository')],
    ] as const) {
      const expected = `${registry}/${String(repository)}:${appVersion}`;
      const actual = images(manifests).get(container);
      if (actual !== expected) problems.push(`${container} image is ${String(actual)}, expected ${expected} (what make images tags)`);
    }
    report(`${name}: images are the ones make images builds`, problems);
  }
}

/** A broken value set must fail (at the schema, or else at render) with every `# expect:` text in the message. */
async function checkInvalid(file: string, base: Values, schema: SchemaCheck, renderer: ChartRenderer): Promise<void> {
  const text = fs.readFileSync(file, 'utf8');
  const expected = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]!.trim());
  const name = `${rel(file)} is refused naming ${expected.map((e) => JSON.stringify(e)).join(', ')}`;
  if (expected.length === 0) {
    report(name, ['no "# expect: <text of the message>" line in the file']);
    return;
  }
  const schemaProblems = schema.check(mergeValues(base, readYaml(file) as Values));
  let message: string;
  if (schemaProblems.length > 0) message = schemaProblems.join('\n');
  else {
    const result = await renderer.render([file]);
    if (result.ok) {
      report(name, ['the schema and the templates both accepted it']);
      return;
    }
    message = result.error;
  }
  const missing = expected.filter((e) => !message.includes(e));
  report(name, missing.length ? [`the message does not say ${missing.map((m) => JSON.stringify(m)).join(', ')}; it was:`, ...message.split('\n')] : []);
  if (missing.length === 0) console.log(`       ${message.split('\n').join('\n       ')}`);
}

async function main(): Promise<void> {
  const schema = loadSchema(chartDir);
  const base = readYaml(path.join(chartDir, 'values.yaml')) as Values;
  report('values.yaml matches values.schema.json', schema.check(base));
  report(`${rel(docsFile)} values reference matches values.schema.json`, checkDocs(schema, base));
  report('images: versions and names agree across Chart.yaml, packages, Dockerfiles, Makefile and bootstrap.sh', checkVersions());
  const configs = await loadProcessConfigs(root);
  const renderer = new ChartRenderer(chartRender, chartDir);
  const access = await RbacAccessChecker.start();
  try {
    const valid = yamlFiles(path.join(chartDir, 'ci'));
    if (valid.length < 5) report('at least five value sets in ci/', [`found ${valid.length}`]);
    for (const file of valid) await checkValueSet(file, base, schema, renderer, configs, access);
    const invalid = yamlFiles(path.join(chartDir, 'ci-invalid'));
    if (invalid.length === 0) report('negative cases in ci-invalid/', ['none found']);
    for (const file of invalid) await checkInvalid(file, base, schema, renderer);
  } finally {
    renderer.close();
    await access.close();
  }
  console.log(`chart-check: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(`chart-check: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 2;
});
