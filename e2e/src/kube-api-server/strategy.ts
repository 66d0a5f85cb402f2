// What the real server does to an object before storing it (the registry "strategies"): system metadata on create,
// immutable fields kept on update, the split between the main resource and the status subresource (each ignores the
// other's part), metadata.generation bumped only by spec changes, and name validation. Controllers rely on these
// (observedGeneration, status writers racing spec writers), so they are kept even though this is a test server.
import { randomUUID } from 'node:crypto';
import { badRequest, conflict, invalid, type ApiError } from './status.js';
import { clone, deepEqual, kubeTime, type KubeObject, type ObjectMeta } from './objects-meta.js';
import type { ResourceType } from './resources.js';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// kubernetes' SimpleNameGenerator alphabet: no vowels, no confusable characters.
const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function groupResource(type: ResourceType) {
  return { group: type.group, resource: type.resource };
}

function nameError(type: ResourceType, name: string): string | undefined {
  switch (type.nameRule) {
    case 'label':
      if (name.length > 63 || !DNS_LABEL.test(name)) return `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`;
      return undefined;
    case 'subdomain':
      if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) return `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`;
      return undefined;
    case 'path-segment':
      if (name === '.' || name === '..') return `may not be '${name}'`;
      if (/[/%]/.test(name)) return `may not contain '/' or '%'`;
      return undefined;
  }
}

function invalidObject(type: ResourceType, name: string, field: string, message: string, reason?: string): ApiError {
  return invalid(type.kind, type.group, name, [{ field, message, ...(reason ? { reason } : {}) }]);
}

/** Checks apiVersion/kind in a body against the endpoint it was sent to, and fills them in when absent. */
export function checkTypeMeta(type: ResourceType, object: KubeObject, expectedApiVersion: string): void {
  if (object.apiVersion !== undefined && object.apiVersion !== expectedApiVersion) {
    throw badRequest(`the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${expectedApiVersion})`);
  }
  if (object.kind !== undefined && object.kind !== type.kind) {
    throw badRequest(`the kind in the data (${String(object.kind)}) does not match the expected kind (${type.kind})`);
  }
  object.apiVersion = expectedApiVersion;
  object.kind = type.kind;
}

/** Outside metadata and status: what a spec change is, for metadata.generation. */
function specPart(object: KubeObject): Record<string, unknown> {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = object;
  return rest;
}

export function prepareForCreate(type: ResourceType, object: KubeObject, requestNamespace: string | undefined): KubeObject {
  const meta: ObjectMeta = object.metadata ?? {};
  object.metadata = meta;
  if (meta.resourceVersion) throw badRequest('resourceVersion should not be set on objects to be created');
  if (type.namespaced) {
    if (meta.namespace && requestNamespace && meta.namespace !== requestNamespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    meta.namespace = requestNamespace ?? meta.namespace;
  } else {
    delete meta.namespace;
  }
  if (!meta.name && meta.generateName) {
    let suffix = '';
    for (let i = 0; i < 5; i++) suffix += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
    meta.name = `${meta.generateName}${suffix}`;
  }
  if (!meta.name) throw invalidObject(type, '', 'metadata.name', 'Required value: name or generateName is required', 'FieldValueRequired');
  const problem = nameError(type, meta.name);
  if (problem) throw invalidObject(type, meta.name, 'metadata.name', `Invalid value: "${meta.name}": ${problem}`);
  meta.uid = randomUUID();
  meta.creationTimestamp = kubeTime();
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  if (type.tracksGeneration) meta.generation = 1;
  else delete meta.generation;
  if (type.statusOnCreate === 'reset' && type.subresources.includes('status')) {
    if (type.initialStatus) object['status'] = clone(type.initialStatus);
    else delete object['status'];
  } else if (type.initialStatus && object['status'] === undefined) {
    object['status'] = clone(type.initialStatus);
  }
  return object;
}

export interface UpdatePlan {
  object: KubeObject;
  /** Nothing but the resourceVersion would change: the real server skips the write (no new version, no event). */
  unchanged: boolean;
}

/**
 * Builds the object an update stores from the client's body and the stored object. `subresource` 'status' keeps
 * everything but status from the stored object; the main resource keeps the stored status when the kind has a status
 * subresource.
 */
export function prepareForUpdate(type: ResourceType, body: KubeObject, stored: KubeObject, subresource: string | undefined): UpdatePlan {
  const name = stored.metadata.name!;
  const meta: ObjectMeta = body.metadata ?? {};
  if (meta.name !== undefined && meta.name !== name) {
    throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`);
  }
  if (type.namespaced && meta.namespace && meta.namespace !== stored.metadata.namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  if (meta.resourceVersion && meta.resourceVersion !== stored.metadata.resourceVersion) {
    throw conflict(groupResource(type), name);
  }
  if (meta.uid && meta.uid !== stored.metadata.uid) {
    throw conflict(groupResource(type), name, `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${stored.metadata.uid}`);
  }
  let next: KubeObject;
  if (subresource === 'status') {
    next = { ...clone(stored), status: clone(body['status']) };
    if (body['status'] === undefined) delete next['status'];
  } else {
    next = clone(body);
    next.metadata = { ...meta };
    if (type.subresources.includes('status')) {
      if (stored['status'] === undefined) delete next['status'];
      else next['status'] = clone(stored['status']);
    }
  }
  // System fields are the server's, whatever the body says.
  const m = next.metadata;
  m.name = name;
  if (type.namespaced) m.namespace = stored.metadata.namespace!;
  else delete m.namespace;
  m.uid = stored.metadata.uid!;
  m.creationTimestamp = stored.metadata.creationTimestamp!;
  m.resourceVersion = stored.metadata.resourceVersion!;
  if (stored.metadata.deletionTimestamp) {
    m.deletionTimestamp = stored.metadata.deletionTimestamp;
    if (stored.metadata.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = stored.metadata.deletionGracePeriodSeconds;
  } else {
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
  }
  if (type.tracksGeneration) {
    const generation = stored.metadata.generation ?? 1;
    m.generation = deepEqual(specPart(next), specPart(stored)) ? generation : generation + 1;
  } else {
    delete m.generation;
  }
  if (stored.metadata.deletionTimestamp && (m.finalizers?.length ?? 0) > (stored.metadata.finalizers?.length ?? 0)) {
    const added = (m.finalizers ?? []).filter((f) => !(stored.metadata.finalizers ?? []).includes(f));
    if (added.length > 0) throw invalidObject(type, name, 'metadata.finalizers', `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`, 'FieldValueForbidden');
  }
  return { object: next, unchanged: deepEqual(next, stored) };
}
