// PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and a strategic merge patch that knows the merge
// keys of the common lists (containers and volumes by name, conditions by type...) from a small table instead of the
// Go struct tags the real server reads: lists not in the table are replaced, as in a merge patch. Written down in
// docs/kube-api-server.md.
import { ApiError, badRequest } from './status.js';
import { clone, deepEqual, isJsonObject } from './objects-meta.js';

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const base = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  switch (base) {
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/json-patch+json':
      return 'json';
    case 'application/apply-patch+yaml':
      return 'apply';
    default:
      return undefined;
  }
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return clone(patch);
  const result: Record<string, unknown> = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

interface JsonPatchOperation {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

// A JSON patch that cannot apply is refused as unprocessable, as the real server does.
function unprocessable(message: string): ApiError {
  return new ApiError(422, 'Invalid', message);
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw unprocessable(`JSON pointer "${pointer}" must start with /`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

function parentOf(document: unknown, tokens: string[], op: string): { parent: Container; last: string } {
  let current: unknown = document;
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(current)) current = current[Number(token)];
    else if (isJsonObject(current)) current = current[token];
    else current = undefined;
    if (current === undefined) throw unprocessable(`${op} operation does not apply: doc is missing path: "/${tokens.join('/')}": missing value`);
  }
  if (!Array.isArray(current) && !isJsonObject(current)) throw unprocessable(`${op} operation does not apply: doc is missing path: "/${tokens.join('/')}"`);
  return { parent: current, last: tokens.at(-1)! };
}

function arrayIndex(array: unknown[], token: string, allowEnd: boolean, op: string): number {
  if (allowEnd && token === '-') return array.length;
  const index = Number(token);
  if (!/^\d+$/.test(token) || index > array.length || (!allowEnd && index === array.length)) {
    throw unprocessable(`${op} operation does not apply: index out of bounds: ${token}`);
  }
  return index;
}

function getAt(document: unknown, tokens: string[], op: string): unknown {
  if (tokens.length === 0) return document;
  const { parent, last } = parentOf(document, tokens, op);
  const value = Array.isArray(parent) ? parent[arrayIndex(parent, last, false, op)] : parent[last];
  if (value === undefined) throw unprocessable(`${op} operation does not apply: doc is missing path: "/${tokens.join('/')}": missing value`);
  return value;
}

function removeAt(document: unknown, tokens: string[], op: string): unknown {
  const { parent, last } = parentOf(document, tokens, op);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, last, false, op), 1)[0];
  if (!Object.hasOwn(parent, last)) throw unprocessable(`${op} operation does not apply: doc is missing key: /${tokens.join('/')}: missing value`);
  const value = parent[last];
  delete parent[last];
  return value;
}

function addAt(document: unknown, tokens: string[], value: unknown, op: string, replace: boolean): unknown {
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(document, tokens, op);
  if (Array.isArray(parent)) {
    const index = arrayIndex(parent, last, !replace, op);
    if (replace) parent[index] = value;
    else parent.splice(index, 0, value);
  } else {
    if (replace && !Object.hasOwn(parent, last)) throw unprocessable(`replace operation does not apply: doc is missing key: /${tokens.join('/')}: missing value`);
    parent[last] = value;
  }
  return document;
}

export function jsonPatch(document: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = clone(document);
  for (const raw of operations as JsonPatchOperation[]) {
    if (!isJsonObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw unprocessable('invalid JSON patch operation');
    const path = parsePointer(raw.path);
    switch (raw.op) {
      case 'add':
        doc = addAt(doc, path, clone(raw.value), 'add', false);
        break;
      case 'replace':
        doc = addAt(doc, path, clone(raw.value), 'replace', true);
        break;
      case 'remove':
        removeAt(doc, path, 'remove');
        break;
      case 'move': {
        const value = removeAt(doc, parsePointer(raw.from ?? ''), 'move');
        doc = addAt(doc, path, value, 'move', false);
        break;
      }
      case 'copy':
        doc = addAt(doc, path, clone(getAt(doc, parsePointer(raw.from ?? ''), 'copy')), 'copy', false);
        break;
      case 'test':
        if (!deepEqual(getAt(doc, path, 'test'), raw.value)) throw unprocessable(`testing value ${raw.path} failed: test failed`);
        break;
      default:
        throw unprocessable(`Unexpected kind: ${raw.op}`);
    }
  }
  return doc;
}

// Field name -> merge key, from the patchMergeKey tags of k8s.io/api (core/v1, apps/v1, meta/v1).
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ports: 'containerPort',
  conditions: 'type',
  ownerReferences: 'uid',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
};
// Lists of strings merged as sets (patchStrategy:"merge" on a primitive list).
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return clone(patch);
  if (patch['$patch'] === 'replace') {
    const { $patch: _, ...rest } = patch;
    return strategicMergePatch(undefined, rest);
  }
  const result: Record<string, unknown> = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    // Ordering and retain-keys directives only matter to the real server's field ordering; not kept.
    if (key.startsWith('$')) continue;
    if (value === null || (isJsonObject(value) && value['$patch'] === 'delete')) {
      delete result[key];
      continue;
    }
    const mergeKey = MERGE_KEYS[key];
    const existing = result[key];
    if (Array.isArray(value) && Array.isArray(existing) && mergeKey) {
      result[key] = mergeListByKey(existing, value, mergeKey);
    } else if (Array.isArray(value) && Array.isArray(existing) && MERGED_PRIMITIVE_LISTS.has(key)) {
      result[key] = [...existing, ...value.filter((v) => !existing.includes(v))];
    } else {
      result[key] = strategicMergePatch(existing, value);
    }
  }
  return result;
}

function mergeListByKey(existing: unknown[], patch: unknown[], mergeKey: string): unknown[] {
  const result = [...existing];
  for (const item of patch) {
    if (!isJsonObject(item) || !(mergeKey in item)) {
      result.push(clone(item));
      continue;
    }
    const index = result.findIndex((e) => isJsonObject(e) && deepEqual(e[mergeKey], item[mergeKey]));
    if (item['$patch'] === 'delete') {
      if (index >= 0) result.splice(index, 1);
    } else if (index >= 0) result[index] = strategicMergePatch(result[index], item);
    else result.push(strategicMergePatch(undefined, item));
  }
  return result;
}

export function applyPatch(type: PatchType, current: unknown, body: unknown): unknown {
  switch (type) {
    case 'json':
      return jsonPatch(current, body);
    case 'merge':
    case 'apply':
      if (!isJsonObject(body)) throw badRequest('the patch body must be a JSON object');
      return mergePatch(current, body);
    case 'strategic':
      if (!isJsonObject(body)) throw badRequest('the patch body must be a JSON object');
      return strategicMergePatch(current, body);
  }
}
