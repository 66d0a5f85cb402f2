// What is removed from API answers before they leave the cluster (ARCHITECTURE.md: no Secret data, no environment
// variable values, no ConfigMap data unless a setting says so). Applied to every JSON answer, both to api_paths and
// to what kubectl reads through the policy proxy, so `kubectl describe cm`, `kubectl get deploy -o yaml` and a raw
// GET all show the same redacted objects. Keys stay (which keys a ConfigMap has, which variables a container sets,
// is what an investigation needs); values are replaced by a marker.
//
// - ConfigMaps: every value of data and binaryData, wherever a ConfigMap appears (the object, list items, table
//   rows' embedded objects), recognised by the request's resource or by kind: ConfigMap.
// - Environment variables: `value` of every {name, value} entry of an `env` array anywhere (pod specs, pod
//   templates of workloads and custom resources, controller revisions); `valueFrom` references stay.
// - The kubectl.kubernetes.io/last-applied-configuration annotation, which repeats both of the above.

export const REDACTED = '<redacted by kestrel-operator>';
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

export interface RedactionOptions {
  configMapData: boolean;
  envValues: boolean;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

function redactValues(map: Json | undefined): number {
  if (!isObject(map)) return 0;
  let n = 0;
  for (const key of Object.keys(map)) {
    map[key] = REDACTED;
    n++;
  }
  return n;
}

function redactConfigMap(o: Record<string, Json>): number {
  return redactValues(o['data']) + redactValues(o['binaryData']);
}

/**
 * Redacts a parsed JSON answer in place and returns how many values were replaced. `configMaps` says the answer
 * is about ConfigMaps (its items and rows carry no kind of their own).
 */
export function redact(body: unknown, options: RedactionOptions, configMaps: boolean): number {
  let count = 0;
  const walk = (node: unknown, depth: number, configMapHere: boolean): void => {
    if (depth > 200) return;
    if (Array.isArray(node)) {
      for (const item of node) walk(item, depth + 1, false);
      return;
    }
    if (!isObject(node)) return;
    if (!options.configMapData && (configMapHere || node['kind'] === 'ConfigMap')) count += redactConfigMap(node);
    for (const [key, value] of Object.entries(node)) {
      if (key === 'env' && Array.isArray(value) && !options.envValues) {
        for (const entry of value) {
          if (isObject(entry) && typeof entry['name'] === 'string' && 'value' in entry) {
            entry['value'] = REDACTED;
            count++;
          }
        }
      }
      if (key === 'annotations' && isObject(value) && LAST_APPLIED in value && !(options.configMapData && options.envValues)) {
        value[LAST_APPLIED] = REDACTED;
        count++;
      }
      // The objects of a ConfigMap answer: a list's items, a table's rows' embedded objects.
      const childIsConfigMap = configMaps && (key === 'items' || key === 'object');
      if (childIsConfigMap && Array.isArray(value)) {
        for (const item of value) walk(item, depth + 1, true);
      } else if (key === 'rows' && configMaps && Array.isArray(value)) {
        for (const row of value) if (isObject(row)) walk(row['object'], depth + 2, true);
      } else walk(value, depth + 1, childIsConfigMap);
    }
  };
  // A list, table or Status has no data of its own, so treating the top object as a ConfigMap is harmless.
  walk(body, 0, configMaps);
  return count;
}
