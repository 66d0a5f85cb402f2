// Label and field selectors with the syntax and errors of k8s.io/apimachinery (labels.Parse, fields.ParseSelector).
// Field selectors are checked against the kind's registered field labels: an unknown one is a 400, as clients that
// rely on server-side filtering (an agent watching only its node's pods) must learn at once, not get everything.
import { badRequest } from './status.js';
import type { KubeObject } from './objects-meta.js';
import type { ResourceType } from './resources.js';

export type LabelRequirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'gt' | 'lt'; value: number };

export type LabelSelector = LabelRequirement[];

const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string): string {
  if (key.length === 0 || !QUALIFIED_NAME.test(key) || key.split('/').at(-1)!.length > 63) {
    throw badRequest(`unable to parse requirement: key: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  }
  return key;
}

function checkValue(value: string): string {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    throw badRequest(`unable to parse requirement: values[0][${value}]: Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`);
  }
  return value;
}

/** Splits on commas that are not inside a parenthesised value set. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  if (!text || text.trim() === '') return [];
  return splitTopLevel(text).map((raw) => {
    const part = raw.trim();
    if (part === '') throw badRequest(`unable to parse requirement: found '', expected: identifier`);
    let m = /^!\s*(\S+)$/.exec(part);
    if (m) return { key: checkKey(m[1]!), op: 'notexists' };
    m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(part);
    if (m) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim()));
      return { key: checkKey(m[1]!), op: m[2] as 'in' | 'notin', values };
    }
    m = /^([^\s=!<>]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (m) {
      const value = checkValue(m[3]!);
      return { key: checkKey(m[1]!), op: m[2] === '!=' ? 'notin' : 'in', values: [value] };
    }
    m = /^([^\s=!<>]+)\s*([<>])\s*(\S+)$/.exec(part);
    if (m) {
      const value = Number(m[3]);
      if (!Number.isInteger(value)) throw badRequest(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
      return { key: checkKey(m[1]!), op: m[2] === '>' ? 'gt' : 'lt', value };
    }
    if (/^\S+$/.test(part)) return { key: checkKey(part), op: 'exists' };
    throw badRequest(`unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, gt, lt`);
  });
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const set = labels ?? {};
  return selector.every((r) => {
    const has = Object.hasOwn(set, r.key);
    const value = set[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      case 'in':
        return has && r.values.includes(value!);
      case 'notin':
        return !has || !r.values.includes(value!);
      case 'gt':
      case 'lt': {
        if (!has) return false;
        const n = Number(value);
        if (!Number.isInteger(n)) return false;
        return r.op === 'gt' ? n > r.value : n < r.value;
      }
    }
  });
}

export interface FieldRequirement {
  field: string;
  value: string;
  negate: boolean;
}

export type FieldSelector = FieldRequirement[];

/** Splits on a separator not preceded by a backslash (fields.ParseSelector's escaping of \, \= \\). */
function splitUnescaped(text: string, separator: ','): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      current += c + text[i + 1];
      i++;
    } else if (c === separator) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

export function parseFieldSelector(text: string | null | undefined): FieldSelector {
  if (!text || text.trim() === '') return [];
  return splitUnescaped(text, ',').map((part) => {
    const m = /^((?:[^=!\\]|\\.)+?)(!=|==|=)(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    return { field: unescape(m[1]!.trim()), value: unescape(m[3]!), negate: m[2] === '!=' };
  });
}

/** Refuses field labels the kind does not register, with the real server's message. */
export function checkFieldSelector(type: ResourceType, selector: FieldSelector): void {
  for (const r of selector) {
    if (r.field === 'metadata.name' || (r.field === 'metadata.namespace' && type.namespaced)) continue;
    if (!Object.hasOwn(type.fields, r.field)) throw badRequest(`field label not supported: ${r.field}`);
  }
}

export function matchesFields(type: ResourceType, selector: FieldSelector, object: KubeObject): boolean {
  return selector.every((r) => {
    let actual: string;
    if (r.field === 'metadata.name') actual = object.metadata.name ?? '';
    else if (r.field === 'metadata.namespace') actual = object.metadata.namespace ?? '';
    else actual = type.fields[r.field]!(object);
    return r.negate ? actual !== r.value : actual === r.value;
  });
}

/** The one name a selector pins (metadata.name=x): the real server authorizes such a list/watch as on that name. */
export function pinnedName(selector: FieldSelector): string | undefined {
  return selector.find((r) => r.field === 'metadata.name' && !r.negate)?.value;
}

export interface ObjectFilter {
  namespace?: string;
  labels: LabelSelector;
  fields: FieldSelector;
}

export function matchesFilter(type: ResourceType, filter: ObjectFilter, object: KubeObject): boolean {
  if (filter.namespace && object.metadata.namespace !== filter.namespace) return false;
  return matchesLabels(filter.labels, object.metadata.labels) && matchesFields(type, filter.fields, object);
}
