// The values reference of docs/install.md, generated from values.schema.json (types and descriptions) and
// values.yaml (defaults), between two markers; the prose around it is written by hand.
import type { Values } from './values.js';

export const BEGIN_MARKER = '<!-- values-reference: generated from helm/kestrel-operator/values.schema.json by `make chart-docs`; do not edit by hand -->';
export const END_MARKER = '<!-- end of values-reference -->';

interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  anyOf?: Schema[];
  minimum?: number;
  maximum?: number;
  definitions?: Record<string, Schema>;
}

/** Names of shared definitions as a reader knows them. */
const DEFINITION_NAMES: Record<string, string> = {
  duration: 'duration',
  durationOrEmpty: 'duration or empty',
  promDuration: 'duration',
  size: 'size',
  port: 'port',
  hostPort: 'host:port',
  absolutePath: 'absolute path',
  absolutePathOrEmpty: 'absolute path or empty',
  pemOrEmpty: 'PEM text or empty',
  intOrPercent: 'integer or percentage',
  stringMap: 'map of strings',
  resources: 'resources',
  securityContext: 'securityContext',
  affinity: 'affinity',
  toleration: 'Toleration',
  policyRule: 'PolicyRule',
  networkPolicyPeer: 'NetworkPolicyPeer',
};

export function generateValuesReference(schema: Schema, values: Values): { markdown: string; problems: string[] } {
  const definitions = schema.definitions ?? {};
  const resolve = (s: Schema): Schema => (s.$ref ? { ...definitions[s.$ref.replace('#/definitions/', '')]!, ...withoutRef(s) } : s);
  const problems: string[] = [];
  const lines: string[] = [BEGIN_MARKER, ''];

  const typeOf = (s: Schema): string => {
    const ref = s.$ref?.replace('#/definitions/', '');
    const r = resolve(s);
    if (r.enum) return r.enum.map((v) => (v === '' ? '""' : String(v))).join(' \\| ');
    if (ref && DEFINITION_NAMES[ref]) return DEFINITION_NAMES[ref]!;
    if (r.type === 'array') return `list of ${r.items ? typeOf(r.items) : 'items'}`;
    if (r.type === 'integer' && r.minimum !== undefined) return r.maximum !== undefined ? `integer ${r.minimum}–${r.maximum}` : `integer ≥ ${r.minimum}`;
    return String(r.type ?? 'any');
  };

  const rows = (props: Record<string, Schema>, prefix: string, current: unknown): string[] => {
    const out: string[] = [];
    for (const [key, prop] of Object.entries(props)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const r = resolve(prop);
      const value = current && typeof current === 'object' ? (current as Record<string, unknown>)[key] : undefined;
      if (!prop.description) problems.push(`values.schema.json: ${path} has no description`);
      const children = childrenOf(r);
      if (children) {
        out.push(...rows(children, path, value));
        continue;
      }
      if (value === undefined) problems.push(`values.yaml: ${path} has no default`);
      out.push(`| \`${path}\` | ${typeOf(prop)} | ${cell(value)} | ${escape(prop.description ?? '')} |`);
    }
    return out;
  };

  const header = ['| Value | Type | Default | Description |', '| --- | --- | --- | --- |'];
  const general: string[] = [];
  const sections: string[] = [];
  for (const [section, prop] of Object.entries(schema.properties ?? {})) {
    const sectionRows = rows({ [section]: prop }, '', values);
    if (childrenOf(resolve(prop))) sections.push(`### \`${section}\``, '', escape(prop.description ?? ''), '', ...header, ...sectionRows, '');
    else general.push(...sectionRows);
  }
  lines.push('### General', '', ...header, ...general, '', ...sections, END_MARKER);
  return { markdown: lines.join('\n'), problems };
}

/** A value whose parts are all described is documented part by part; otherwise as one value. */
const childrenOf = (r: Schema): Record<string, Schema> | undefined =>
  r.properties && Object.values(r.properties).every((p) => p.description) ? r.properties : undefined;

const withoutRef = (s: Schema): Schema => {
  const { $ref: _ref, ...rest } = s;
  return rest;
};

const escape = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function cell(value: unknown): string {
  if (value === undefined) return '';
  if (value === '') return '`""`';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `\`${escape(text)}\``;
}

/** Replaces the generated block of `doc`; undefined when the markers are missing. */
export function replaceBlock(doc: string, block: string): string | undefined {
  const start = doc.indexOf(BEGIN_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (start === -1 || end === -1 || end < start) return undefined;
  return doc.slice(0, start) + block + doc.slice(end + END_MARKER.length);
}
