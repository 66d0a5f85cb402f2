// kubectl sends some request bodies as Kubernetes protobuf (Content-Type application/vnd.kubernetes.protobuf) and
// has no JSON fallback for them: the reviews of `kubectl auth can-i` / `auth whoami` and the TokenRequest of
// `kubectl create token`. This decodes exactly those messages (the "k8s\0" envelope around a runtime.Unknown, then
// the message by the field numbers of k8s.io/api/{authorization,authentication}/v1/generated.proto) into the JSON
// the handlers take; also the bodies of `kubectl create namespace|serviceaccount|configmap`. Answers stay JSON,
// which kubectl also accepts. Other protobuf bodies (the other typed `kubectl create` generators) get 415: use
// `kubectl create -f` / `apply -f`, which send JSON.
import { ApiError } from './status.js';

type FieldType = 'string' | 'int' | 'bool' | 'stringMap' | Schema | { repeated: FieldType };
interface Schema {
  [field: number]: [name: string, type: FieldType];
}

const OBJECT_META: Schema = { 1: ['name', 'string'], 2: ['generateName', 'string'], 3: ['namespace', 'string'], 11: ['labels', 'stringMap'], 12: ['annotations', 'stringMap'] };
const RESOURCE_ATTRIBUTES: Schema = { 1: ['namespace', 'string'], 2: ['verb', 'string'], 3: ['group', 'string'], 4: ['version', 'string'], 5: ['resource', 'string'], 6: ['subresource', 'string'], 7: ['name', 'string'] };
const NON_RESOURCE_ATTRIBUTES: Schema = { 1: ['path', 'string'], 2: ['verb', 'string'] };
const ACCESS_SPEC: Schema = {
  1: ['resourceAttributes', RESOURCE_ATTRIBUTES],
  2: ['nonResourceAttributes', NON_RESOURCE_ATTRIBUTES],
  3: ['user', 'string'],
  4: ['groups', { repeated: 'string' }],
  6: ['uid', 'string'],
};
const SELF_ACCESS_SPEC: Schema = { 1: ['resourceAttributes', RESOURCE_ATTRIBUTES], 2: ['nonResourceAttributes', NON_RESOURCE_ATTRIBUTES] };

const KINDS: Record<string, Schema> = {
  'authorization.k8s.io/v1/SelfSubjectAccessReview': { 1: ['metadata', OBJECT_META], 2: ['spec', SELF_ACCESS_SPEC] },
  'authorization.k8s.io/v1/SubjectAccessReview': { 1: ['metadata', OBJECT_META], 2: ['spec', ACCESS_SPEC] },
  'authorization.k8s.io/v1/LocalSubjectAccessReview': { 1: ['metadata', OBJECT_META], 2: ['spec', ACCESS_SPEC] },
  'authorization.k8s.io/v1/SelfSubjectRulesReview': { 1: ['metadata', OBJECT_META], 2: ['spec', { 1: ['namespace', 'string'] }] },
  'authentication.k8s.io/v1/SelfSubjectReview': { 1: ['metadata', OBJECT_META] },
  'authentication.k8s.io/v1/TokenReview': { 1: ['metadata', OBJECT_META], 2: ['spec', { 1: ['token', 'string'], 2: ['audiences', { repeated: 'string' }] }] },
  // The simplest `kubectl create <kind>` generators, for setup scripts.
  'v1/Namespace': { 1: ['metadata', OBJECT_META] },
  'v1/ServiceAccount': { 1: ['metadata', OBJECT_META] },
  'v1/ConfigMap': { 1: ['metadata', OBJECT_META], 2: ['data', 'stringMap'] },
  'authentication.k8s.io/v1/TokenRequest': {
    1: ['metadata', OBJECT_META],
    // boundObjectRef is what `kubectl create token --bound-object-kind Pod --bound-object-name P` sends.
    2: ['spec', { 1: ['audiences', { repeated: 'string' }], 3: ['boundObjectRef', { 1: ['kind', 'string'], 2: ['apiVersion', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'] }], 4: ['expirationSeconds', 'int'] }],
  },
};

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

class Reader {
  offset = 0;
  constructor(readonly bytes: Buffer) {}

  done(): boolean {
    return this.offset >= this.bytes.length;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.offset >= this.bytes.length) throw malformed();
      const byte = this.bytes[this.offset++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw malformed();
    }
  }

  chunk(): Buffer {
    const length = this.varint();
    if (this.offset + length > this.bytes.length) throw malformed();
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.offset += 8;
    else if (wireType === 2) this.chunk();
    else if (wireType === 5) this.offset += 4;
    else throw malformed();
  }
}

function malformed(): ApiError {
  return new ApiError(400, 'BadRequest', 'the protobuf body could not be decoded');
}

function decodeMessage(bytes: Buffer, schema: Schema): Record<string, unknown> {
  const reader = new Reader(bytes);
  const out: Record<string, unknown> = {};
  while (!reader.done()) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    const entry = schema[field];
    if (!entry) {
      reader.skip(wireType);
      continue;
    }
    const [name, type] = entry;
    if (typeof type === 'object' && 'repeated' in type) {
      const list = (out[name] as unknown[] | undefined) ?? [];
      list.push(decodeValue(reader, wireType, type.repeated as FieldType));
      out[name] = list;
    } else if (type === 'stringMap') {
      const pair = decodeMessage(reader.chunk(), { 1: ['key', 'string'], 2: ['value', 'string'] });
      const map = (out[name] as Record<string, string> | undefined) ?? {};
      map[String(pair['key'] ?? '')] = String(pair['value'] ?? '');
      out[name] = map;
    } else out[name] = decodeValue(reader, wireType, type);
  }
  return out;
}

function decodeValue(reader: Reader, wireType: number, type: FieldType): unknown {
  if (type === 'string') return reader.chunk().toString('utf8');
  if (type === 'int') return reader.varint();
  if (type === 'bool') return reader.varint() !== 0;
  if (wireType !== 2) throw malformed();
  return decodeMessage(reader.chunk(), type as Schema);
}

export function isProtobuf(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/vnd.kubernetes.protobuf';
}

/** Decodes an enveloped protobuf body of one of the supported kinds into its JSON form. */
export function decodeProtobufBody(body: Buffer): Record<string, unknown> {
  if (body.length < MAGIC.length || !body.subarray(0, 4).equals(MAGIC)) throw malformed();
  // The envelope is a runtime.Unknown: 1 typeMeta {1 apiVersion, 2 kind}, 2 raw (the message itself).
  const reader = new Reader(body.subarray(4));
  let typeMeta: { apiVersion?: unknown; kind?: unknown } = {};
  let raw: Buffer | undefined;
  while (!reader.done()) {
    const tag = reader.varint();
    if (tag === (1 << 3) + 2) typeMeta = decodeMessage(reader.chunk(), { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] });
    else if (tag === (2 << 3) + 2) raw = reader.chunk();
    else reader.skip(tag & 7);
  }
  const schema = KINDS[`${String(typeMeta.apiVersion)}/${String(typeMeta.kind)}`];
  if (!schema || !raw) {
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (protobuf is understood here only for reviews, TokenRequest, Namespace, ServiceAccount and ConfigMap; use kubectl create -f or apply -f; got ${String(typeMeta.apiVersion)}/${String(typeMeta.kind)})`);
  }
  return { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...decodeMessage(raw, schema) };
}
