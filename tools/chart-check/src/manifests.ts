// Every rendered manifest against the Kubernetes API schema of its kind: kubernetes-models (the OpenAPI schemas of
// Kubernetes, Prometheus Operator and Istio compiled to validators) checks types, required fields, enums and formats;
// those schemas allow unknown fields, which the API server (strict field validation, as kubectl and Helm use) rejects,
// so field names are also checked against the API's own field lists (@kubernetes/client-node's models).
import type { Manifest } from './render.js';

type Model = new (data: unknown) => { validate(): void };

/** Where the model of each API group lives: built-in groups in kubernetes-models, CRDs in their own packages. */
function modelModule(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  if (group!.endsWith('istio.io')) return `@kubernetes-models/istio/${apiVersion}/${kind}`;
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

const models = new Map<string, Model>();

async function modelFor(apiVersion: string, kind: string): Promise<Model> {
  const key = `${apiVersion}/${kind}`;
  let model = models.get(key);
  if (!model) {
    const mod = (await import(modelModule(apiVersion, kind))) as Record<string, Model>;
    model = mod[kind];
    if (!model) throw new Error(`no schema for ${key}`);
    models.set(key, model);
  }
  return model;
}

interface Attribute {
  baseName: string;
  type: string;
}
type ClientModels = Record<string, { getAttributeTypeMap?: () => Attribute[] } | undefined>;
let clientModels: ClientModels | undefined;

/** Field names of the built-in kinds, from @kubernetes/client-node's generated models (V1DaemonSet, ...). */
async function unknownFields(m: Manifest): Promise<string[]> {
  clientModels ??= (await import('@kubernetes/client-node')) as unknown as ClientModels;
  const version = m.apiVersion.split('/').pop()!;
  const typeName = version.charAt(0).toUpperCase() + version.slice(1) + m.kind;
  if (!clientModels[typeName]?.getAttributeTypeMap) return []; // not a built-in kind (CRD): schema check only
  const found: string[] = [];
  walk(m.object, typeName, '', found);
  return found;
}

function walk(value: unknown, type: string, at: string, found: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((item, i) => walk(item, array[1]!, `${at}[${i}]`, found));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, map[1]!, `${at}.${k}`, found);
    return;
  }
  const attributes = clientModels![type]?.getAttributeTypeMap?.();
  if (!attributes || typeof value !== 'object' || Array.isArray(value)) return;
  const known = new Map(attributes.map((a) => [a.baseName, a.type]));
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const childType = known.get(key);
    if (childType === undefined) found.push(`${at ? `${at}.` : ''}${key}`);
    else walk(child, childType, at ? `${at}.${key}` : key, found);
  }
}

/** Problems of one manifest, each naming the field; empty when the API server would take it. */
export async function validateManifest(m: Manifest): Promise<string[]> {
  const problems: string[] = [];
  let model: Model;
  try {
    model = await modelFor(m.apiVersion, m.kind);
  } catch (err) {
    return [`no Kubernetes schema for ${m.apiVersion} ${m.kind} (${(err as Error).message})`];
  }
  try {
    new model(m.object).validate();
  } catch (err) {
    problems.push(...(err as Error).message.split(', ').map((p) => p.replace(/^data\//, '').replace(/\//g, '.')));
  }
  for (const field of await unknownFields(m)) problems.push(`${field}: unknown field`);
  if (m.name.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(m.name)) problems.push(`metadata.name ${JSON.stringify(m.name)} is not a valid object name`);
  problems.push(...labelProblems((m.object.metadata as { labels?: object } | undefined)?.labels, 'metadata.labels'));
  const template = (m.object.spec as { template?: { metadata?: { labels?: object } } } | undefined)?.template;
  problems.push(...labelProblems(template?.metadata?.labels, 'spec.template.metadata.labels'));
  if ((m.kind === 'Service' || m.kind === 'Namespace') && !/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(m.name)) {
    problems.push(`metadata.name ${JSON.stringify(m.name)} is not a DNS-1035 label (Services need one)`);
  }
  return problems;
}

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)$/;

/** Label keys and values as the API server checks them (the OpenAPI schema says only "string"). */
function labelProblems(labels: object | undefined, at: string): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(labels ?? {})) {
    const slash = key.lastIndexOf('/');
    const prefix = slash === -1 ? undefined : key.slice(0, slash);
    const name = slash === -1 ? key : key.slice(slash + 1);
    if (!LABEL_NAME.test(name) || (prefix !== undefined && !LABEL_PREFIX.test(prefix))) problems.push(`${at}.${key}: not a valid label key`);
    if (typeof value !== 'string' || !LABEL_VALUE.test(value)) problems.push(`${at}.${key}: ${JSON.stringify(value)} is not a valid label value`);
  }
  return problems;
}
