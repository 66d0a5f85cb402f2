// Values files: read, merge over the chart's values.yaml the way Helm does, and check against values.schema.json with
// messages that name the value (`aggregator.replicas: expected integer, got "two"`), as an installer reads them.
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import YAML from 'yaml';

export type Values = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a YAML file as Helm does (YAML 1.1: `0400` is octal, `yes` is a string only in 1.2, ...). */
export function readYaml(file: string): unknown {
  return YAML.parse(fs.readFileSync(file, 'utf8'), { version: '1.1' }) ?? {};
}

/** Helm's coalescing: maps merge key by key, anything else replaces, and null removes the key. */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === null) delete out[key];
    else if (isObject(value) && isObject(out[key])) out[key] = mergeValues(out[key] as Values, value);
    else out[key] = value;
  }
  return out;
}

export interface SchemaCheck {
  schema: Record<string, unknown>;
  /** Problems of merged values, one line each; empty when valid. */
  check(values: Values): string[];
}

export function loadSchema(chartDir: string): SchemaCheck {
  const schema = JSON.parse(fs.readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
  const validate: ValidateFunction = ajv.compile(schema);
  return {
    schema,
    check(values) {
      if (validate(values)) return [];
      return describeErrors(validate.errors ?? []);
    },
  };
}

const valuePath = (instancePath: string): string =>
  instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');

const lowerFirst = (text: string): string => text.charAt(0).toLowerCase() + text.slice(1);

const shown = (v: unknown): string => JSON.stringify(v) ?? String(v);

function describeError(e: ErrorObject): string {
  const at = valuePath(e.instancePath) || '(top level)';
  const schemaDescription = (e.parentSchema as { description?: string } | undefined)?.description;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const where = valuePath(e.instancePath);
      return `${where ? `${where}.` : ''}${key}: unknown key${allowed.length ? ` (known keys here: ${allowed.join(', ')})` : ''}`;
    }
    case 'type':
      return `${at}: expected ${(e.params as { type: string }).type}, got ${shown(e.data)}`;
    case 'enum':
      return `${at}: expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map(shown).join(', ')}, got ${shown(e.data)}`;
    case 'pattern':
      return `${at}: ${schemaDescription && !schemaDescription.includes('`') ? `expected ${lowerFirst(schemaDescription.replace(/\.$/, ''))}` : `must match ${(e.params as { pattern: string }).pattern}`}, got ${shown(e.data)}`;
    case 'minimum':
    case 'maximum':
    case 'minLength':
    case 'maxLength':
    case 'minItems':
      return `${at}: ${e.message}, got ${shown(e.data)}`;
    case 'required':
      return `${at}: ${(e.params as { missingProperty: string }).missingProperty} is required`;
    default:
      return `${at}: ${e.message ?? e.keyword}`;
  }
}

/** One line per problem; for "anyOf" only the alternatives' summary, not each branch's complaint. */
export function describeErrors(errors: ErrorObject[]): string[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const lines = errors
    .filter((e) => !(anyOfPaths.has(e.instancePath) && e.keyword !== 'anyOf'))
    .map((e) =>
      e.keyword === 'anyOf'
        ? `${valuePath(e.instancePath)}: expected ${describeAnyOf(e.parentSchema)}, got ${shown(e.data)}`
        : describeError(e),
    );
  return [...new Set(lines)];
}

function describeAnyOf(schema: unknown): string {
  const branches = ((schema as { anyOf?: Array<{ type?: string; pattern?: string }> }).anyOf ?? []).map((b) =>
    b.pattern ? `${b.type} matching ${b.pattern}` : String(b.type),
  );
  return branches.join(' or ');
}
