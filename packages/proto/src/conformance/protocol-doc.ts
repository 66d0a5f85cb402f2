// Parser for the protocol documents in ../shared/protocols (kestrel-cloud-v1.md): the wire facts of the Kestrel Cloud
// uplink are recorded there, in Markdown, and the conformance test checks the generated code against them. The
// parser is strict on purpose: a bullet it cannot read is an error (with its line number), never skipped, so a
// format change in the document cannot silently shrink what the test checks.
//
// Recognised structure, inside a `## <package>` part (e.g. `## cloud.v1 (...)`, or `## server.v1.Service (...)`,
// whose own bullets are that service's rpcs):
//   ### message Name                          ### enum Name              ### service Name
//   - 1: `field_name` type [(comment)]        - `VALUE_NAME` = 0         - rpc `M`: [stream ]Req -> [stream ]Res
//   - 2: `items` repeated Type
//   - 3: `labels` map<string, string>
//   - oneof `name`:
//     - 4: `member` Type
// Type is a protobuf scalar, a message or enum name, or a qualified name (google.protobuf.Timestamp). Any other
// `## ` heading ends the part; prose lines (not bullets) are ignored.

export const SCALAR_TYPES = [
  'double',
  'float',
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
  'bool',
  'string',
  'bytes',
] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];

/** The type of one value: a protobuf scalar, or a message or enum named as in the document. */
export type ValueType = { readonly kind: 'scalar'; readonly name: ScalarType } | { readonly kind: 'named'; readonly name: string };

export type FieldType =
  | { readonly kind: 'single'; readonly value: ValueType }
  | { readonly kind: 'repeated'; readonly value: ValueType }
  | { readonly kind: 'map'; readonly key: ScalarType; readonly value: ValueType };

export interface DocField {
  readonly number: number;
  /** As written in the document (snake_case). */
  readonly name: string;
  readonly type: FieldType;
  /** The oneof the field belongs to, or undefined for a plain field. */
  readonly oneof: string | undefined;
  readonly line: number;
}

export interface DocMessage {
  readonly name: string;
  readonly fields: readonly DocField[];
  readonly oneofs: readonly string[];
  readonly line: number;
}

export interface DocEnum {
  readonly name: string;
  readonly values: readonly { readonly name: string; readonly number: number }[];
  readonly line: number;
}

export interface DocRpc {
  readonly name: string;
  readonly requestType: string;
  readonly requestStream: boolean;
  readonly responseType: string;
  readonly responseStream: boolean;
  readonly line: number;
}

export interface DocService {
  readonly name: string;
  readonly rpcs: readonly DocRpc[];
  readonly line: number;
}

export interface DocPackage {
  readonly name: string;
  readonly messages: readonly DocMessage[];
  readonly enums: readonly DocEnum[];
  readonly services: readonly DocService[];
}

export interface ProtocolDoc {
  readonly packages: ReadonlyMap<string, DocPackage>;
}

export class ProtocolDocError extends Error {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`protocol document line ${line}: ${detail}`);
    this.name = 'ProtocolDocError';
  }
}

interface MutableMessage {
  name: string;
  fields: DocField[];
  oneofs: string[];
  line: number;
}
interface MutableEnum {
  name: string;
  values: { name: string; number: number }[];
  line: number;
}
interface MutableService {
  name: string;
  rpcs: DocRpc[];
  line: number;
}
interface MutablePackage {
  name: string;
  messages: MutableMessage[];
  enums: MutableEnum[];
  services: MutableService[];
}

type Section =
  | { readonly kind: 'none' }
  | { readonly kind: 'message'; readonly message: MutableMessage; oneof: string | undefined }
  | { readonly kind: 'enum'; readonly enumType: MutableEnum }
  | { readonly kind: 'service'; readonly service: MutableService };

const PACKAGE_HEADING = /^## ([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)(?:\.([A-Z][A-Za-z0-9_]*))?(?:\s|$)/;
const TYPE_HEADING = /^### (message|enum|service) ([A-Za-z_][A-Za-z0-9_]*)\s*$/;
const PACKAGE_LINE = /^package `([^`]+)`\s*$/;
const BULLET = /^(\s*)- (.*?)\s*$/;
const ONEOF = /^oneof `([a-z_][a-z0-9_]*)`:$/;
const FIELD = /^(\d+): `([a-z_][a-z0-9_]*)` (.+)$/;
const MAP_TYPE = /^map<\s*([a-z0-9]+)\s*,\s*([A-Za-z_][A-Za-z0-9_.]*)\s*>(.*)$/;
const REPEATED_TYPE = /^repeated ([A-Za-z_][A-Za-z0-9_.]*)(.*)$/;
const SINGLE_TYPE = /^([A-Za-z_][A-Za-z0-9_.]*)(.*)$/;
/** What may follow a field's type: nothing, or a parenthesised remark such as `(JWT)` or `("Bearer")`. */
const TRAILING_REMARK = /^(?:\s+\(.*\))?$/;
const ENUM_VALUE = /^`([A-Z][A-Z0-9_]*)` = (-?\d+)$/;
const RPC = /^rpc `([A-Za-z_][A-Za-z0-9_]*)`: (stream )?([A-Za-z_][A-Za-z0-9_.]*) -> (stream )?([A-Za-z_][A-Za-z0-9_.]*)$/;
/** Map keys may be any integral or string scalar (protobuf forbids floating point and bytes keys). */
const MAP_KEY_TYPES: ReadonlySet<string> = new Set(SCALAR_TYPES.filter((t) => t !== 'double' && t !== 'float' && t !== 'bytes'));
const MAX_FIELD_NUMBER = 536_870_911;

function isScalar(name: string): name is ScalarType {
  return (SCALAR_TYPES as readonly string[]).includes(name);
}

function valueType(name: string): ValueType {
  return isScalar(name) ? { kind: 'scalar', name } : { kind: 'named', name };
}

function parseFieldType(text: string, line: number): FieldType {
  const map = MAP_TYPE.exec(text);
  if (map) {
    const [, key = '', value = '', rest = ''] = map;
    expectNoTrailingText(rest, line);
    if (!isScalar(key) || !MAP_KEY_TYPES.has(key)) throw new ProtocolDocError(line, `map key type '${key}' is not allowed`);
    return { kind: 'map', key, value: valueType(value) };
  }
  const repeated = REPEATED_TYPE.exec(text);
  if (repeated) {
    const [, value = '', rest = ''] = repeated;
    expectNoTrailingText(rest, line);
    return { kind: 'repeated', value: valueType(value) };
  }
  const single = SINGLE_TYPE.exec(text);
  if (single) {
    const [, value = '', rest = ''] = single;
    expectNoTrailingText(rest, line);
    return { kind: 'single', value: valueType(value) };
  }
  throw new ProtocolDocError(line, `cannot read the field type '${text}'`);
}

function expectNoTrailingText(rest: string, line: number): void {
  if (!TRAILING_REMARK.test(rest)) throw new ProtocolDocError(line, `unexpected text after the field type: '${rest.trim()}'`);
}

function parseField(text: string, oneof: string | undefined, line: number): DocField | undefined {
  const match = FIELD.exec(text);
  if (!match) return undefined;
  const [, numberText = '', name = '', typeText = ''] = match;
  const number = Number(numberText);
  if (!Number.isSafeInteger(number) || number < 1 || number > MAX_FIELD_NUMBER || (number >= 19_000 && number <= 19_999)) {
    throw new ProtocolDocError(line, `field number ${numberText} of '${name}' is not a valid protobuf field number`);
  }
  const type = parseFieldType(typeText, line);
  if (oneof !== undefined && type.kind !== 'single') {
    throw new ProtocolDocError(line, `oneof member '${name}' cannot be ${type.kind}`);
  }
  return { number, name, type, oneof, line };
}

function addMessageBullet(section: Extract<Section, { kind: 'message' }>, indent: string, text: string, line: number): void {
  const message = section.message;
  if (indent.length === 0) {
    const oneof = ONEOF.exec(text);
    if (oneof) {
      const name = oneof[1] ?? '';
      if (message.oneofs.includes(name)) throw new ProtocolDocError(line, `oneof '${name}' appears twice in ${message.name}`);
      message.oneofs.push(name);
      section.oneof = name;
      return;
    }
    section.oneof = undefined;
  } else if (section.oneof === undefined) {
    throw new ProtocolDocError(line, `indented bullet in ${message.name} is not under a oneof: '${text}'`);
  }
  const field = parseField(text, section.oneof, line);
  if (!field) throw new ProtocolDocError(line, `cannot read the field bullet '${text}' in message ${message.name}`);
  const clash = message.fields.find((f) => f.number === field.number || f.name === field.name);
  if (clash) {
    throw new ProtocolDocError(line, `${message.name}.${field.name} (${field.number}) clashes with ${clash.name} (${clash.number})`);
  }
  message.fields.push(field);
}

function addEnumBullet(enumType: MutableEnum, text: string, line: number): void {
  const match = ENUM_VALUE.exec(text);
  if (!match) throw new ProtocolDocError(line, `cannot read the enum value bullet '${text}' in enum ${enumType.name}`);
  const [, name = '', numberText = ''] = match;
  const number = Number(numberText);
  if (enumType.values.some((v) => v.name === name || v.number === number)) {
    throw new ProtocolDocError(line, `${enumType.name}.${name} = ${number} repeats a name or number`);
  }
  enumType.values.push({ name, number });
}

function addServiceBullet(service: MutableService, text: string, line: number): void {
  const match = RPC.exec(text);
  if (!match) throw new ProtocolDocError(line, `cannot read the rpc bullet '${text}' in service ${service.name}`);
  const [, name = '', requestStream, requestType = '', responseStream, responseType = ''] = match;
  if (service.rpcs.some((r) => r.name === name)) throw new ProtocolDocError(line, `rpc ${service.name}.${name} appears twice`);
  service.rpcs.push({
    name,
    requestType,
    requestStream: requestStream !== undefined,
    responseType,
    responseStream: responseStream !== undefined,
    line,
  });
}

/** Parses every `## <package>` part of a protocol document. */
export function parseProtocolDoc(markdown: string): ProtocolDoc {
  const packages = new Map<string, MutablePackage>();
  let current: MutablePackage | undefined;
  let section: Section = { kind: 'none' };

  const lines = markdown.split(/\r?\n/);
  lines.forEach((text, index) => {
    const line = index + 1;
    if (text.startsWith('## ') || text.startsWith('# ')) {
      section = { kind: 'none' };
      const heading = PACKAGE_HEADING.exec(text);
      if (!heading) {
        current = undefined;
        return;
      }
      const [, packageName = '', serviceName] = heading;
      current = packages.get(packageName);
      if (!current) {
        current = { name: packageName, messages: [], enums: [], services: [] };
        packages.set(packageName, current);
      }
      if (serviceName !== undefined) {
        const service: MutableService = { name: serviceName, rpcs: [], line };
        current.services.push(service);
        section = { kind: 'service', service };
      }
      return;
    }
    if (!current) return;

    if (text.startsWith('#')) {
      const heading = TYPE_HEADING.exec(text);
      if (!heading) throw new ProtocolDocError(line, `unrecognised heading in package ${current.name}: '${text}'`);
      const [, kind, name = ''] = heading;
      const taken = [...current.messages, ...current.enums, ...current.services].some((t) => t.name === name);
      if (taken) throw new ProtocolDocError(line, `${current.name}.${name} is defined twice`);
      if (kind === 'message') {
        const message: MutableMessage = { name, fields: [], oneofs: [], line };
        current.messages.push(message);
        section = { kind: 'message', message, oneof: undefined };
      } else if (kind === 'enum') {
        const enumType: MutableEnum = { name, values: [], line };
        current.enums.push(enumType);
        section = { kind: 'enum', enumType };
      } else {
        const service: MutableService = { name, rpcs: [], line };
        current.services.push(service);
        section = { kind: 'service', service };
      }
      return;
    }

    const packageLine = PACKAGE_LINE.exec(text);
    if (packageLine) {
      if (packageLine[1] !== current.name) {
        throw new ProtocolDocError(line, `package line '${packageLine[1]}' contradicts the heading's package ${current.name}`);
      }
      return;
    }

    const bullet = BULLET.exec(text);
    if (!bullet) return; // prose
    const [, indent = '', body = ''] = bullet;
    switch (section.kind) {
      case 'message':
        addMessageBullet(section, indent, body, line);
        return;
      case 'enum':
        addEnumBullet(section.enumType, body, line);
        return;
      case 'service':
        addServiceBullet(section.service, body, line);
        return;
      case 'none':
        throw new ProtocolDocError(line, `bullet outside any message, enum or service of package ${current.name}: '${body}'`);
    }
  });

  return { packages };
}

/** snake_case to the lowerCamelCase that ts-proto (snakeToCamel) gives fields, oneofs and oneof cases. */
export function camelCase(snake: string): string {
  return snake.replace(/_+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** snake_case to UpperCamelCase, as protoc names a map field's entry message (`labels` -> `LabelsEntry`). */
export function pascalCase(snake: string): string {
  const camel = camelCase(snake);
  return camel.charAt(0).toUpperCase() + camel.slice(1);
}
