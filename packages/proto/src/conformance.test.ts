// Keeps the uplink wire-compatible with Kestrel Cloud: every message, field, enum value and rpc that
// ../shared/protocols/kestrel-cloud-v1.md documents for cloud.v1 and server.v1 is checked against the COMPILED
// generated code (dist/gen, imported through this package's own exports), by encoding values with it and reading the
// bytes back with an independent wire reader. The .proto files are not read: what ships is what is tested.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inspect, isDeepStrictEqual } from 'node:util';

import * as cloud from '@kestrel/proto/cloud/v1';
import * as server from '@kestrel/proto/server/v1';
import { Timestamp } from '@kestrel/proto/google/protobuf/timestamp';

import {
  ProtocolDocError,
  camelCase,
  parseProtocolDoc,
  pascalCase,
  type DocField,
  type DocMessage,
  type DocPackage,
  type ProtocolDoc,
  type ScalarType,
  type ValueType,
} from './conformance/protocol-doc.js';
import {
  WireFormatError,
  WireType,
  fixed,
  readPackedFixed,
  readPackedVarints,
  readRecords,
  readUtf8,
  wireTypeName,
  zigZag,
  type WireRecord,
} from './conformance/wire-reader.js';

// ---------------------------------------------------------------------------------------------------------------
// The document

const DOC_NAME = 'kestrel-cloud-v1.md';

/** The repository root: the nearest folder above this file that holds pnpm-workspace.yaml. */
function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) assert.fail(`no pnpm-workspace.yaml in ${start} or above it: cannot locate the repository root`);
    dir = parent;
  }
}

let loaded: { readonly path: string; readonly doc: ProtocolDoc } | undefined;

/** Reads and parses the document once; a missing document fails the calling test, it never skips it. */
function loadDoc(): { readonly path: string; readonly doc: ProtocolDoc } {
  if (loaded) return loaded;
  const root = findRepoRoot(import.meta.dirname);
  const docPath = path.resolve(root, '..', 'shared', 'protocols', DOC_NAME);
  if (!existsSync(docPath)) {
    assert.fail(
      `the protocol document ${docPath} is missing: the uplink conformance test checks the generated cloud.v1/server.v1 ` +
        `code against <repo root>/../shared/protocols/${DOC_NAME} and cannot pass without it`,
    );
  }
  loaded = { path: docPath, doc: parseProtocolDoc(readFileSync(docPath, 'utf8')) };
  return loaded;
}

function docPackage(name: string): DocPackage {
  const { doc, path: docPath } = loadDoc();
  const found = doc.packages.get(name);
  if (!found) assert.fail(`${docPath} has no '## ${name}' part (found: ${[...doc.packages.keys()].join(', ') || 'none'})`);
  return found;
}

// ---------------------------------------------------------------------------------------------------------------
// The generated code, seen through its runtime shape

type ModuleExports = Readonly<Record<string, unknown>>;

interface MessageCodec {
  encode(message: unknown): { finish(): Uint8Array };
  decode(input: Uint8Array): unknown;
  fromPartial(object: unknown): unknown;
}

interface MethodDefinition {
  readonly name: string;
  readonly requestType: unknown;
  readonly requestStream: boolean;
  readonly responseType: unknown;
  readonly responseStream: boolean;
}

interface ServiceDefinition {
  readonly name: string;
  readonly fullName: string;
  readonly methods: Readonly<Record<string, unknown>>;
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null;
}

function isMessageCodec(value: unknown): value is MessageCodec {
  return (
    isRecord(value) &&
    typeof value['encode'] === 'function' &&
    typeof value['decode'] === 'function' &&
    typeof value['fromPartial'] === 'function'
  );
}

/** A TypeScript numeric enum object: NAME -> number, plus the reverse "number" -> NAME entries. */
function isEnumObject(value: unknown): value is Readonly<Record<string, string | number>> {
  if (!isRecord(value) || isMessageCodec(value)) return false;
  const entries = Object.entries(value);
  return (
    entries.length > 0 &&
    entries.every(([key, v]) => (typeof v === 'number' ? value[String(v)] === key : typeof v === 'string' && value[v] === Number(key)))
  );
}

function isMethodDefinition(value: unknown): value is MethodDefinition {
  return (
    isRecord(value) &&
    typeof value['name'] === 'string' &&
    typeof value['requestStream'] === 'boolean' &&
    typeof value['responseStream'] === 'boolean' &&
    'requestType' in value &&
    'responseType' in value
  );
}

function isServiceDefinition(value: unknown): value is ServiceDefinition {
  return isRecord(value) && typeof value['name'] === 'string' && typeof value['fullName'] === 'string' && isRecord(value['methods']);
}

/** One-line rendering of a value for failure messages. */
function show(value: unknown): string {
  return inspect(value, { depth: 3, breakLength: Infinity, compact: true, maxStringLength: 80 });
}

function asRecord(value: unknown, what: string): Readonly<Record<string, unknown>> {
  if (!isRecord(value)) assert.fail(`${what} is ${show(value)}, not an object`);
  return value;
}

/** Types the document names without defining them; their generated code lives in @kestrel/proto/google/protobuf. */
const WELL_KNOWN: ReadonlyMap<string, MessageCodec> = new Map([['google.protobuf.Timestamp', Timestamp]]);

const TIMESTAMP_DOC: DocMessage = {
  name: 'Timestamp',
  oneofs: [],
  line: 0,
  fields: [
    { number: 1, name: 'seconds', type: { kind: 'single', value: { kind: 'scalar', name: 'int64' } }, oneof: undefined, line: 0 },
    { number: 2, name: 'nanos', type: { kind: 'single', value: { kind: 'scalar', name: 'int32' } }, oneof: undefined, line: 0 },
  ],
};

interface GeneratedPackage {
  readonly name: string;
  readonly importPath: string;
  readonly exports: ModuleExports;
  /** Lower bounds on what the parser must find, so that a parser break cannot make the checks vacuous. */
  readonly minimum: { readonly messages: number; readonly fields: number; readonly enums: number; readonly rpcs: number };
}

const PACKAGES: readonly GeneratedPackage[] = [
  {
    name: 'cloud.v1',
    importPath: '@kestrel/proto/cloud/v1',
    exports: { ...cloud },
    minimum: { messages: 90, fields: 550, enums: 5, rpcs: 5 },
  },
  {
    name: 'server.v1',
    importPath: '@kestrel/proto/server/v1',
    exports: { ...server },
    minimum: { messages: 4, fields: 11, enums: 0, rpcs: 2 },
  },
];

type Resolved =
  | { readonly kind: 'scalar'; readonly scalar: ScalarType; readonly label: string }
  | { readonly kind: 'enum'; readonly sample: number; readonly label: string }
  | { readonly kind: 'message'; readonly codec: MessageCodec; readonly label: string };

/** Resolves the type names of one documented package to the generated code of that package. */
class Catalogue {
  constructor(
    readonly doc: DocPackage,
    readonly generated: GeneratedPackage,
  ) {}

  localName(name: string): string {
    const prefix = `${this.doc.name}.`;
    return name.startsWith(prefix) ? name.slice(prefix.length) : name;
  }

  codec(typeName: string): MessageCodec {
    const wellKnown = WELL_KNOWN.get(typeName);
    if (wellKnown) return wellKnown;
    const name = this.localName(typeName);
    const value = this.generated.exports[name];
    if (!isMessageCodec(value)) assert.fail(`${this.generated.importPath} exports no message ${name} (found ${show(value)})`);
    return value;
  }

  resolve(type: ValueType): Resolved {
    if (type.kind === 'scalar') return { kind: 'scalar', scalar: type.name, label: type.name };
    const name = this.localName(type.name);
    const enumType = this.doc.enums.find((e) => e.name === name);
    if (enumType) {
      const value = enumType.values.find((v) => v.number !== 0);
      if (!value) assert.fail(`${this.doc.name}.${name} documents no non-zero value to encode`);
      return { kind: 'enum', sample: value.number, label: `enum ${type.name}` };
    }
    if (WELL_KNOWN.has(type.name) || this.doc.messages.some((m) => m.name === name)) {
      return { kind: 'message', codec: this.codec(type.name), label: `message ${type.name}` };
    }
    assert.fail(`${this.doc.name}: type ${type.name} is neither documented nor a known well-known type`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sample values and what they must look like on the wire

type Sample = number | boolean | string | Uint8Array | Readonly<Record<string, unknown>> | readonly unknown[];

/**
 * A non-default value per scalar type, derived from the field number so that two swapped fields differ. The numbers
 * are chosen to expose the wrong integer encoding: uint32 above the int32 range, 64-bit values above 2^32, negative
 * sint/sfixed values (ZigZag vs two's complement), multi-byte varints.
 */
function scalarSample(scalar: ScalarType, seed: number, label: string): number | boolean | string | Uint8Array {
  switch (scalar) {
    case 'double':
      return seed + 0.25;
    case 'float':
      return seed + 0.5;
    case 'int32':
      return 300 + seed;
    case 'int64':
      return 2 ** 33 + seed;
    case 'uint32':
      return 2 ** 31 + seed;
    case 'uint64':
      return 2 ** 52 + seed;
    case 'sint32':
      return -(300 + seed);
    case 'sint64':
      return -(2 ** 33 + seed);
    case 'fixed32':
      return 2 ** 31 + seed;
    case 'fixed64':
      return 2 ** 52 + seed;
    case 'sfixed32':
      return -(300 + seed);
    case 'sfixed64':
      return -(2 ** 33 + seed);
    case 'bool':
      return true;
    case 'string':
      return `${label} ✓`;
    case 'bytes':
      return Uint8Array.of(seed & 0xff, 0xff, 0x00);
  }
}

/** The wire type a single value of this type is written with (repeated and map fields are always LEN). */
function wireTypeOf(type: Resolved): WireType {
  if (type.kind === 'enum') return WireType.Varint;
  if (type.kind === 'message') return WireType.Len;
  switch (type.scalar) {
    case 'double':
    case 'fixed64':
    case 'sfixed64':
      return WireType.I64;
    case 'float':
    case 'fixed32':
    case 'sfixed32':
      return WireType.I32;
    case 'string':
    case 'bytes':
      return WireType.Len;
    default:
      return WireType.Varint;
  }
}

/** proto3 packs repeated scalar numeric fields (all but string and bytes) and enums into one LEN record. */
function isPacked(type: Resolved): boolean {
  return type.kind === 'enum' || (type.kind === 'scalar' && type.scalar !== 'string' && type.scalar !== 'bytes');
}

interface Value {
  /** What is put into the generated message object. */
  readonly input: unknown;
  /** What the generated decoder must give back for it. */
  readonly decoded: unknown;
  /** What the wire reader must find in the record (for messages: an empty sub-message). */
  readonly wire: number | boolean | string | Uint8Array | 'empty-message';
}

function valueFor(type: Resolved, seed: number, label: string): Value {
  switch (type.kind) {
    case 'scalar': {
      const sample = scalarSample(type.scalar, seed, label);
      return { input: sample, decoded: sample, wire: sample };
    }
    case 'enum':
      return { input: type.sample, decoded: type.sample, wire: type.sample };
    case 'message': {
      // An empty sub-message: ts-proto writes a message field whenever it is not undefined, so an all-defaults
      // object must still appear on the wire as a present, zero-length LEN record.
      const empty = type.codec.fromPartial({});
      return { input: empty, decoded: type.codec.fromPartial({}), wire: 'empty-message' };
    }
  }
}

/** Reads one value back from a record by the rules of its documented type, independently of the generated code. */
function readValue(type: Resolved, record: WireRecord): unknown {
  if (record.wireType === WireType.Varint) {
    const v = record.value;
    if (type.kind === 'enum') return Number(BigInt.asIntN(64, v));
    if (type.kind !== 'scalar') return v;
    switch (type.scalar) {
      case 'bool':
        return v === 0n ? false : v === 1n ? true : v;
      case 'int32':
      case 'int64':
        return Number(BigInt.asIntN(64, v));
      case 'uint32':
      case 'uint64':
        return Number(v);
      case 'sint32':
      case 'sint64':
        return Number((v >> 1n) ^ -(v & 1n));
      default:
        return v;
    }
  }
  if (type.kind === 'message') {
    return record.wireType === WireType.Len && readRecords(record.value).length === 0 ? 'empty-message' : record.value;
  }
  if (type.kind !== 'scalar') return record.value;
  switch (type.scalar) {
    case 'double':
      return record.value.length === 8 ? fixed.double(record.value) : record.value;
    case 'fixed64':
      return record.value.length === 8 ? Number(fixed.fixed64(record.value)) : record.value;
    case 'sfixed64':
      return record.value.length === 8 ? Number(fixed.sfixed64(record.value)) : record.value;
    case 'float':
      return record.value.length === 4 ? fixed.float(record.value) : record.value;
    case 'fixed32':
      return record.value.length === 4 ? fixed.fixed32(record.value) : record.value;
    case 'sfixed32':
      return record.value.length === 4 ? fixed.sfixed32(record.value) : record.value;
    case 'string':
      return readUtf8(record.value);
    default:
      return Uint8Array.from(record.value);
  }
}

/** Checks one value record (a field, a packed element, a map key or value); returns what is wrong, if anything. */
function checkValueRecord(where: string, type: Resolved, record: WireRecord, value: Value): string | undefined {
  const expected = wireTypeOf(type);
  if (record.wireType !== expected) {
    return `${where}: wire type ${wireTypeName(record.wireType)}, but ${type.label} is written as ${wireTypeName(expected)}`;
  }
  let read: unknown;
  try {
    read = readValue(type, record);
  } catch (error) {
    return `${where}: the wire bytes do not read as ${type.label}: ${String(error)}`;
  }
  if (!isDeepStrictEqual(read, value.wire)) {
    return `${where}: reads back from the wire as ${show(read)}, but ${show(value.wire)} was encoded (${type.label})`;
  }
  return undefined;
}

/** Documented description of a field, for messages: `field 6 uint32`, `field 5 map<string, string>`. */
function describeType(field: DocField): string {
  const type = field.type;
  switch (type.kind) {
    case 'single':
      return type.value.name;
    case 'repeated':
      return `repeated ${type.value.name}`;
    case 'map':
      return `map<${type.key}, ${type.value.name}>`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Per-field checks

interface FieldValue {
  readonly key: string;
  readonly input: unknown;
  readonly decoded: unknown;
  /** Checks the single record the field must produce (number and wire type already checked). */
  checkRecord(where: string, record: WireRecord): string | undefined;
}

/** Builds a non-default value for a documented field, and the check of the record it must produce. */
function fieldValue(catalogue: Catalogue, messageName: string, field: DocField): FieldValue {
  const label = `${messageName}.${field.name}`;
  const key = camelCase(field.name);
  const type = field.type;
  switch (type.kind) {
    case 'single': {
      const resolved = catalogue.resolve(type.value);
      const value = valueFor(resolved, field.number, label);
      const wrapped = (v: unknown): unknown => (field.oneof === undefined ? v : { $case: key, value: v });
      return {
        key: field.oneof === undefined ? key : camelCase(field.oneof),
        input: wrapped(value.input),
        decoded: wrapped(value.decoded),
        checkRecord: (where, record) => checkValueRecord(where, resolved, record, value),
      };
    }
    case 'repeated': {
      const resolved = catalogue.resolve(type.value);
      const value = valueFor(resolved, field.number, label);
      return {
        key,
        input: [value.input],
        decoded: [value.decoded],
        checkRecord: (where, record) => {
          if (record.wireType !== WireType.Len) {
            return `${where}: wire type ${wireTypeName(record.wireType)}, but a repeated field with one element is one LEN record`;
          }
          if (!isPacked(resolved)) return checkValueRecord(where, resolved, record, value);
          const elementWireType = wireTypeOf(resolved);
          let elements: WireRecord[];
          try {
            elements =
              elementWireType === WireType.Varint
                ? readPackedVarints(record.value).map((v) => ({ fieldNumber: field.number, wireType: WireType.Varint, value: v }))
                : readPackedFixed(record.value, elementWireType === WireType.I64 ? 8 : 4).map((bytes) => ({
                    fieldNumber: field.number,
                    wireType: elementWireType === WireType.I64 ? WireType.I64 : WireType.I32,
                    value: bytes,
                  }));
          } catch (error) {
            return `${where}: the LEN payload is not a packed list of ${resolved.label}: ${String(error)}`;
          }
          if (elements.length !== 1) return `${where}: the packed payload holds ${elements.length} elements, 1 was encoded`;
          const [element] = elements;
          return element && checkValueRecord(`${where} (packed element)`, resolved, element, value);
        },
      };
    }
    case 'map': {
      if (type.key !== 'string') {
        assert.fail(`${label}: map<${type.key}, ...> keys are not supported by this test yet; extend fieldValue()`);
      }
      const keyType: Resolved = { kind: 'scalar', scalar: 'string', label: 'string' };
      const entryKey: Value = { input: `key of ${label}`, decoded: `key of ${label}`, wire: `key of ${label}` };
      const valueType = catalogue.resolve(type.value);
      const value = valueFor(valueType, field.number, label);
      return {
        key,
        input: { [`key of ${label}`]: value.input },
        decoded: { [`key of ${label}`]: value.decoded },
        checkRecord: (where, record) => {
          if (record.wireType !== WireType.Len) return `${where}: wire type ${wireTypeName(record.wireType)}, but a map entry is LEN`;
          let entry: WireRecord[];
          try {
            entry = readRecords(record.value);
          } catch (error) {
            return `${where}: the map entry is not a message: ${String(error)}`;
          }
          const numbers = entry.map((r) => r.fieldNumber);
          if (!isDeepStrictEqual(numbers, [1, 2])) {
            return `${where}: the map entry holds fields ${show(numbers)}, expected [1 (key), 2 (value)]`;
          }
          const [k, v] = entry;
          return (
            (k && checkValueRecord(`${where} entry key`, keyType, k, entryKey)) ??
            (v && checkValueRecord(`${where} entry value`, valueType, v, value))
          );
        },
      };
    }
  }
}

function encode(codec: MessageCodec, object: unknown): Uint8Array {
  return codec.encode(object).finish();
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Sets one documented field (or one oneof member) to a non-default value, encodes the message with the generated
 * code, and checks that exactly one record comes out, with the documented number and wire type and the value that
 * was set, and that the generated decoder gives the value back.
 */
function checkFieldEncoding(catalogue: Catalogue, message: DocMessage, codec: MessageCodec, field: DocField, fq: string): string[] {
  const inOneof = field.oneof === undefined ? '' : ` in oneof ${field.oneof}`;
  const where = `${fq}.${field.name} (documented: field ${field.number} ${describeType(field)}${inOneof})`;
  const value = fieldValue(catalogue, message.name, field);
  const object = { ...asRecord(codec.fromPartial({}), `${fq}.fromPartial({})`), [value.key]: value.input };
  let bytes: Uint8Array;
  let records: WireRecord[];
  try {
    bytes = encode(codec, object);
    records = readRecords(bytes);
  } catch (error) {
    return [`${where}: encoding a non-default value failed: ${errorText(error)}`];
  }
  const problems: string[] = [];
  const expectedWireType = field.type.kind === 'single' ? wireTypeOf(catalogue.resolve(field.type.value)) : WireType.Len;
  const setting = field.oneof === undefined ? `'${value.key}'` : `oneof '${value.key}' to $case '${camelCase(field.name)}'`;
  if (records.length !== 1) {
    const seen = records.map((r) => `field ${r.fieldNumber} ${wireTypeName(r.wireType)}`).join(', ');
    problems.push(
      records.length === 0
        ? `${where}: setting ${setting} wrote nothing; the generated message has no such field (renamed or missing?)`
        : `${where}: setting ${setting} wrote ${records.length} records (${seen}), expected one`,
    );
  }
  const [record] = records;
  if (record && records.length === 1) {
    if (record.fieldNumber !== field.number || record.wireType !== expectedWireType) {
      problems.push(
        `${where}: encoded as field ${record.fieldNumber} ${wireTypeName(record.wireType)}, ` +
          `documented as field ${field.number} ${wireTypeName(expectedWireType)}`,
      );
    } else {
      const mismatch = value.checkRecord(where, record);
      if (mismatch) problems.push(mismatch);
    }
  }
  // What the decoder makes of a wrong encoding adds nothing; it is checked once the bytes are right.
  if (problems.length > 0) return problems;
  try {
    const decoded = asRecord(codec.decode(bytes), `${fq}.decode(...)`);
    if (!isDeepStrictEqual(decoded[value.key], value.decoded)) {
      problems.push(`${where}: the generated decoder gives back ${show(decoded[value.key])}, expected ${show(value.decoded)}`);
    }
  } catch (error) {
    problems.push(`${where}: the generated decoder rejects its own encoding: ${errorText(error)}`);
  }
  return problems;
}

/** Sets every documented field at once (each oneof to its first member) and checks the decoded message field by field. */
function checkRoundTrip(catalogue: Catalogue, message: DocMessage, codec: MessageCodec, fq: string): string[] {
  const values = new Map<string, { field: DocField; value: FieldValue }>();
  for (const field of message.fields) {
    const value = fieldValue(catalogue, message.name, field);
    if (!values.has(value.key)) values.set(value.key, { field, value });
  }
  const object: Record<string, unknown> = { ...asRecord(codec.fromPartial({}), `${fq}.fromPartial({})`) };
  for (const [key, { value }] of values) object[key] = value.input;
  let decoded: Readonly<Record<string, unknown>>;
  try {
    decoded = asRecord(codec.decode(encode(codec, object)), `${fq}.decode(...)`);
  } catch (error) {
    return [`${fq}: encoding and decoding all documented fields at once failed: ${errorText(error)}`];
  }
  const problems: string[] = [];
  for (const [key, { field, value }] of values) {
    if (!isDeepStrictEqual(decoded[key], value.decoded)) {
      problems.push(
        `${fq}.${field.oneof ?? field.name} (field ${field.number}): set together with every other field, it decodes as ` +
          `${show(decoded[key])}, expected ${show(value.decoded)}`,
      );
    }
  }
  return problems;
}

/** Bytes of one record with the given number and wire type and a non-default value, for probing the decoder. */
function probeRecord(fieldNumber: number, wireType: WireType): Uint8Array {
  const tag: number[] = [];
  let t = fieldNumber * 8 + wireType;
  while (t >= 0x80) {
    tag.push((t & 0x7f) | 0x80);
    t = Math.floor(t / 128);
  }
  tag.push(t);
  switch (wireType) {
    case WireType.Varint:
      return Uint8Array.from([...tag, 0x01]);
    case WireType.I64:
      return Uint8Array.from([...tag, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]); // 1.0 as a double, non-zero as fixed64
    case WireType.I32:
      return Uint8Array.from([...tag, 0, 0, 0x80, 0x3f]); // 1.0 as a float, non-zero as fixed32
    default:
      return Uint8Array.from([...tag, 0x02, 0x08, 0x01]); // a valid sub-message, and a non-empty string or bytes
  }
}

const PROBED_WIRE_TYPES: readonly WireType[] = [WireType.Varint, WireType.I64, WireType.Len, WireType.I32];

/**
 * Checks that the generated message has exactly the documented fields: its keys are the documented fields and oneofs
 * (camelCased), and its decoder ignores every undocumented field number near the documented ones, which also catches
 * an extra oneof member (for example in the gap at field 23 of StreamDataRequest).
 */
function checkExactFields(message: DocMessage, codec: MessageCodec, fq: string): string[] {
  const problems: string[] = [];
  const empty = asRecord(codec.fromPartial({}), `${fq}.fromPartial({})`);
  const actual = Object.keys(empty).sort();
  const expected = [...new Set(message.fields.map((f) => camelCase(f.oneof ?? f.name)))].sort();
  const extra = actual.filter((k) => !expected.includes(k));
  const missing = expected.filter((k) => !actual.includes(k));
  if (extra.length > 0) problems.push(`${fq}: the generated message has undocumented field(s) ${extra.join(', ')}`);
  if (missing.length > 0) problems.push(`${fq}: the generated message lacks documented field(s) ${missing.join(', ')}`);

  const documented = new Set(message.fields.map((f) => f.number));
  const highest = Math.max(0, ...documented);
  for (let n = 1; n <= highest + 16; n += 1) {
    if (documented.has(n)) continue;
    for (const wireType of PROBED_WIRE_TYPES) {
      let decoded: unknown;
      try {
        decoded = codec.decode(probeRecord(n, wireType));
      } catch (error) {
        problems.push(`${fq}: undocumented field ${n} ${wireTypeName(wireType)} makes the decoder throw (${errorText(error)})`);
        continue;
      }
      if (!isDeepStrictEqual(decoded, empty)) {
        problems.push(`${fq}: the generated decoder reads undocumented field ${n} ${wireTypeName(wireType)} into ${show(decoded)}`);
      }
    }
  }
  return problems;
}

function failIfAny(problems: readonly string[]): void {
  if (problems.length > 0) assert.fail(`${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
}

async function forEachMessage(
  t: TestContext,
  generated: GeneratedPackage,
  check: (catalogue: Catalogue, message: DocMessage, codec: MessageCodec, fq: string) => string[],
): Promise<{ messages: number; fields: number }> {
  const doc = docPackage(generated.name);
  const catalogue = new Catalogue(doc, generated);
  assert.ok(doc.messages.length >= generated.minimum.messages, `only ${doc.messages.length} ${doc.name} messages parsed`);
  for (const message of doc.messages) {
    const fq = `${doc.name}.${message.name}`;
    await t.test(fq, () => {
      failIfAny(check(catalogue, message, catalogue.codec(message.name), fq));
    });
  }
  return { messages: doc.messages.length, fields: doc.messages.reduce((sum, m) => sum + m.fields.length, 0) };
}

// ---------------------------------------------------------------------------------------------------------------
// Tests

test('the wire reader decodes the examples of the protobuf encoding guide, so a reader bug cannot hide an encoding bug', () => {
  assert.deepEqual(readRecords(Uint8Array.of(0x08, 0x96, 0x01)), [{ fieldNumber: 1, wireType: WireType.Varint, value: 150n }]);
  const [text] = readRecords(Uint8Array.of(0x12, 0x07, ...new TextEncoder().encode('testing')));
  assert.ok(text && text.wireType === WireType.Len && text.fieldNumber === 2);
  assert.equal(readUtf8(text.value), 'testing');
  const [packed] = readRecords(Uint8Array.of(0x32, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05));
  assert.ok(packed && packed.wireType === WireType.Len && packed.fieldNumber === 6);
  assert.deepEqual(readPackedVarints(packed.value), [3n, 270n, 86942n]);
  const [double] = readRecords(Uint8Array.of(0x19, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f));
  assert.ok(double && double.wireType === WireType.I64 && double.fieldNumber === 3);
  assert.equal(fixed.double(double.value), 1);
  assert.equal(zigZag(-2n), 3n);
  assert.equal(zigZag(2147483647n), 4294967294n);
  assert.throws(() => readRecords(Uint8Array.of(0x08)), WireFormatError, 'a truncated varint');
  assert.throws(() => readRecords(Uint8Array.of(0x12, 0x05, 0x01)), WireFormatError, 'a truncated LEN payload');
  assert.throws(() => readRecords(Uint8Array.of(0x0b)), WireFormatError, 'a group');
});

test('the protocol document parser rejects a bullet it cannot read instead of skipping it', () => {
  const parse = (body: string): ProtocolDoc => parseProtocolDoc(`## cloud.v1 (test)\n\n### message M\n\n${body}\n`);
  assert.equal(parse('- 1: `a_b` repeated string').packages.get('cloud.v1')?.messages[0]?.fields[0]?.type.kind, 'repeated');
  assert.throws(() => parse('- 1 `a` string'), ProtocolDocError);
  assert.throws(() => parse('- 1: `a` string, deprecated'), ProtocolDocError);
  assert.throws(() => parse('- 1: `a` string\n- 1: `b` string'), ProtocolDocError);
  assert.throws(() => parse('  - 2: `a` string'), ProtocolDocError, 'an indented field outside a oneof');
  assert.throws(() => parseProtocolDoc('## cloud.v1\n\n### messages M\n'), ProtocolDocError);
});

test(`${DOC_NAME} is found at <repo root>/../shared/protocols and documents the cloud.v1 and server.v1 catalogues`, (t) => {
  const { path: docPath, doc } = loadDoc();
  t.diagnostic(`protocol document: ${docPath}`);
  for (const generated of PACKAGES) {
    const pkg = docPackage(generated.name);
    const fields = pkg.messages.reduce((sum, m) => sum + m.fields.length, 0);
    const rpcs = pkg.services.reduce((sum, s) => sum + s.rpcs.length, 0);
    t.diagnostic(
      `${pkg.name}: ${pkg.messages.length} messages, ${fields} fields, ${pkg.enums.length} enums, ` +
        `${pkg.services.length} services, ${rpcs} rpcs`,
    );
    const minimum = generated.minimum;
    const found: readonly [string, number, number][] = [
      ['messages', pkg.messages.length, minimum.messages],
      ['fields', fields, minimum.fields],
      ['enums', pkg.enums.length, minimum.enums],
      ['rpcs', rpcs, minimum.rpcs],
    ];
    for (const [what, count, least] of found) {
      assert.ok(
        count >= least,
        `${pkg.name}: parsed only ${count} ${what} from ${docPath}, expected at least ${least}; has the document format changed?`,
      );
    }
    for (const message of pkg.messages) {
      for (const oneof of message.oneofs) {
        assert.ok(message.fields.some((f) => f.oneof === oneof), `${pkg.name}.${message.name}: oneof ${oneof} has no members`);
      }
    }
  }
  assert.deepEqual([...doc.packages.keys()].sort(), PACKAGES.map((p) => p.name).sort(), 'packages documented');
});

test(`every type named by a documented field or rpc is itself documented in ${DOC_NAME} (or is google.protobuf.Timestamp)`, () => {
  const problems: string[] = [];
  for (const generated of PACKAGES) {
    const pkg = docPackage(generated.name);
    const known = new Set([...pkg.messages.map((m) => m.name), ...pkg.enums.map((e) => e.name)]);
    const local = (name: string): string => (name.startsWith(`${pkg.name}.`) ? name.slice(pkg.name.length + 1) : name);
    const isKnown = (name: string): boolean => WELL_KNOWN.has(name) || known.has(local(name));
    for (const message of pkg.messages) {
      for (const field of message.fields) {
        if (field.type.value.kind === 'named' && !isKnown(field.type.value.name)) {
          const where = `${pkg.name}.${message.name}.${field.name} (line ${field.line})`;
          problems.push(`${where} has undocumented type ${field.type.value.name}`);
        }
      }
    }
    for (const service of pkg.services) {
      for (const rpc of service.rpcs) {
        for (const name of [rpc.requestType, rpc.responseType]) {
          if (!pkg.messages.some((m) => m.name === local(name))) {
            problems.push(`${pkg.name}.${service.name}.${rpc.name} (line ${rpc.line}) names undocumented message ${name}`);
          }
        }
      }
    }
  }
  failIfAny(problems);
});

test('google.protobuf.Timestamp, which the document uses but does not define, encodes seconds as field 1 int64 and nanos as field 2 int32', () => {
  const generated = PACKAGES[0];
  assert.ok(generated);
  const catalogue = new Catalogue(docPackage(generated.name), generated);
  const fq = 'google.protobuf.Timestamp';
  failIfAny([
    ...TIMESTAMP_DOC.fields.flatMap((field) => checkFieldEncoding(catalogue, TIMESTAMP_DOC, Timestamp, field, fq)),
    ...checkRoundTrip(catalogue, TIMESTAMP_DOC, Timestamp, fq),
    ...checkExactFields(TIMESTAMP_DOC, Timestamp, fq),
  ]);
});

for (const generated of PACKAGES) {
  const pkg = generated.name;

  test(`every ${pkg} message field documented in ${DOC_NAME} encodes with its documented field number and wire type`, async (t) => {
    const counts = await forEachMessage(t, generated, (catalogue, message, codec, fq) =>
      message.fields.flatMap((field) => checkFieldEncoding(catalogue, message, codec, field, fq)),
    );
    t.diagnostic(`${pkg}: checked ${counts.fields} fields (each oneof member on its own) of ${counts.messages} messages`);
  });

  test(`every ${pkg} message keeps all documented fields, set at once, through the generated encode and decode`, async (t) => {
    const counts = await forEachMessage(t, generated, checkRoundTrip);
    t.diagnostic(`${pkg}: round-tripped ${counts.messages} messages`);
  });

  test(`generated ${pkg} messages have exactly the documented fields and ignore undocumented field numbers`, async (t) => {
    const counts = await forEachMessage(t, generated, (_catalogue, message, codec, fq) => checkExactFields(message, codec, fq));
    t.diagnostic(`${pkg}: compared the field sets of ${counts.messages} messages`);
  });

  test(`the generated ${pkg} module exports exactly the documented messages, enums and services`, () => {
    const doc = docPackage(pkg);
    const exports = generated.exports;
    assert.equal(exports['protobufPackage'], pkg, `${generated.importPath}: protobufPackage`);
    const names = Object.keys(exports);
    // protoc turns each map field into a nested entry message, which ts-proto exports as Message_FieldEntry.
    const mapEntries = doc.messages.flatMap((m) =>
      m.fields.filter((f) => f.type.kind === 'map').map((f) => `${m.name}_${pascalCase(f.name)}Entry`),
    );
    const sorted = (list: readonly string[]): string[] => [...list].sort();
    assert.deepEqual(
      sorted(names.filter((n) => isMessageCodec(exports[n]))),
      sorted([...doc.messages.map((m) => m.name), ...mapEntries]),
      `${generated.importPath}: the generated messages differ from those documented (plus one map entry message per map field)`,
    );
    assert.deepEqual(
      sorted(names.filter((n) => isEnumObject(exports[n]))),
      sorted(doc.enums.map((e) => e.name)),
      `${generated.importPath}: the generated enums differ from those documented`,
    );
    assert.deepEqual(
      sorted(names.filter((n) => isServiceDefinition(exports[n]))),
      sorted(doc.services.map((s) => `${s.name}Definition`)),
      `${generated.importPath}: the generated service definitions differ from the documented services`,
    );
  });

  if (generated.minimum.enums > 0) {
    test(`every documented ${pkg} enum value maps to its documented number, and the generated enums have no other values`, async (t) => {
      const doc = docPackage(pkg);
      assert.ok(doc.enums.length >= generated.minimum.enums, `only ${doc.enums.length} ${pkg} enums parsed`);
      for (const documented of doc.enums) {
        const fq = `${pkg}.${documented.name}`;
        await t.test(fq, () => {
          const generatedEnum = generated.exports[documented.name];
          if (!isEnumObject(generatedEnum)) assert.fail(`${generated.importPath} exports no enum ${documented.name}`);
          const problems = documented.values
            .filter((v) => generatedEnum[v.name] !== v.number)
            .map((v) => `${fq}.${v.name}: documented = ${v.number}, generated = ${show(generatedEnum[v.name])}`);
          // ts-proto adds UNRECOGNIZED = -1 for values it does not know; every other name must be documented.
          const extra = Object.keys(generatedEnum).filter(
            (k) => !/^-?\d+$/.test(k) && k !== 'UNRECOGNIZED' && !documented.values.some((v) => v.name === k),
          );
          if (extra.length > 0) problems.push(`${fq}: undocumented generated value(s) ${extra.join(', ')}`);
          failIfAny(problems);
        });
      }
      t.diagnostic(`${pkg}: checked ${doc.enums.reduce((sum, e) => sum + e.values.length, 0)} values of ${doc.enums.length} enums`);
    });
  }

  test(`the generated ${pkg} service definitions serve every documented rpc at its documented path with the documented types and streaming`, async (t) => {
    const doc = docPackage(pkg);
    const catalogue = new Catalogue(doc, generated);
    const rpcCount = doc.services.reduce((sum, s) => sum + s.rpcs.length, 0);
    assert.ok(rpcCount >= generated.minimum.rpcs, `only ${rpcCount} ${pkg} rpcs parsed`);
    for (const service of doc.services) {
      const fullName = `${pkg}.${service.name}`;
      const definition = generated.exports[`${service.name}Definition`];
      if (!isServiceDefinition(definition)) assert.fail(`${generated.importPath} exports no ${service.name}Definition`);
      assert.equal(definition.fullName, fullName, `${service.name}Definition.fullName`);
      assert.equal(definition.name, service.name, `${service.name}Definition.name`);
      const methods = Object.values(definition.methods).filter(isMethodDefinition);
      assert.equal(methods.length, Object.keys(definition.methods).length, `${fullName}: every method definition is well-formed`);
      assert.deepEqual(
        methods.map((m) => m.name).sort(),
        service.rpcs.map((r) => r.name).sort(),
        `${fullName}: the generated methods differ from the documented rpcs`,
      );
      for (const rpc of service.rpcs) {
        await t.test(`/${fullName}/${rpc.name}`, () => {
          const method = methods.find((m) => m.name === rpc.name);
          if (!method) assert.fail(`${fullName} has no generated method ${rpc.name}`);
          // nice-grpc (and grpc-js) call `/${fullName}/${method.name}`; this is the path Kestrel Cloud serves.
          assert.equal(`/${definition.fullName}/${method.name}`, `/${fullName}/${rpc.name}`);
          const problems: string[] = [];
          if (method.requestType !== catalogue.codec(rpc.requestType)) {
            problems.push(`request type is not ${pkg}.${rpc.requestType}`);
          }
          if (method.responseType !== catalogue.codec(rpc.responseType)) {
            problems.push(`response type is not ${pkg}.${rpc.responseType}`);
          }
          if (method.requestStream !== rpc.requestStream) {
            problems.push(`requestStream is ${method.requestStream}, documented ${rpc.requestStream}`);
          }
          if (method.responseStream !== rpc.responseStream) {
            problems.push(`responseStream is ${method.responseStream}, documented ${rpc.responseStream}`);
          }
          failIfAny(problems.map((p) => `/${fullName}/${rpc.name}: ${p}`));
        });
      }
    }
    t.diagnostic(`${pkg}: checked ${rpcCount} rpcs of ${doc.services.length} services`);
  });
}
