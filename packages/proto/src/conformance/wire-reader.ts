// A minimal protobuf wire-format reader, written independently of the generated code and of @bufbuild/protobuf, so
// the conformance test can see the field numbers, wire types and raw values that the generated encoders put on the
// wire instead of trusting the same library to read back what it wrote. It reads one level of records; callers read
// a length-delimited payload again when it holds a sub-message or packed values.
// Reference: https://protobuf.dev/programming-guides/encoding/

export const WireType = {
  Varint: 0,
  I64: 1,
  Len: 2,
  StartGroup: 3,
  EndGroup: 4,
  I32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

const WIRE_TYPE_NAMES: Readonly<Record<WireType, string>> = {
  0: 'VARINT',
  1: 'I64',
  2: 'LEN',
  3: 'SGROUP',
  4: 'EGROUP',
  5: 'I32',
};

export function wireTypeName(wireType: WireType): string {
  return `${WIRE_TYPE_NAMES[wireType]}(${wireType})`;
}

/** One top-level record: a varint's value, or the raw bytes of a fixed-width or length-delimited value. */
export type WireRecord =
  | { readonly fieldNumber: number; readonly wireType: typeof WireType.Varint; readonly value: bigint }
  | {
      readonly fieldNumber: number;
      readonly wireType: typeof WireType.I64 | typeof WireType.I32 | typeof WireType.Len;
      readonly value: Uint8Array;
    };

export class WireFormatError extends Error {
  constructor(offset: number, detail: string) {
    super(`protobuf wire format, byte ${offset}: ${detail}`);
    this.name = 'WireFormatError';
  }
}

class Cursor {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  varint(): bigint {
    const start = this.offset;
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.bytes[this.offset];
      if (byte === undefined) throw new WireFormatError(start, 'truncated varint');
      this.offset += 1;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        if (result >= 1n << 64n) throw new WireFormatError(start, 'varint exceeds 64 bits');
        return result;
      }
    }
    throw new WireFormatError(start, 'varint longer than 10 bytes');
  }

  take(length: number): Uint8Array {
    if (this.offset + length > this.bytes.length) {
      throw new WireFormatError(this.offset, `needs ${length} bytes, ${this.bytes.length - this.offset} left`);
    }
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }
}

/** Reads every record of one message (or of one sub-message's payload). */
export function readRecords(bytes: Uint8Array): WireRecord[] {
  const cursor = new Cursor(bytes);
  const records: WireRecord[] = [];
  while (!cursor.done) {
    const at = cursor.offset;
    const tag = cursor.varint();
    if (tag > 0xffff_ffffn) throw new WireFormatError(at, `tag ${tag} exceeds 32 bits`);
    const fieldNumber = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    if (fieldNumber === 0) throw new WireFormatError(at, 'field number 0');
    switch (wireType) {
      case WireType.Varint:
        records.push({ fieldNumber, wireType, value: cursor.varint() });
        break;
      case WireType.I64:
        records.push({ fieldNumber, wireType, value: cursor.take(8) });
        break;
      case WireType.I32:
        records.push({ fieldNumber, wireType, value: cursor.take(4) });
        break;
      case WireType.Len: {
        const length = cursor.varint();
        if (length > BigInt(bytes.length)) throw new WireFormatError(at, `length ${length} exceeds the input`);
        records.push({ fieldNumber, wireType, value: cursor.take(Number(length)) });
        break;
      }
      default:
        throw new WireFormatError(at, `wire type ${wireType} (field ${fieldNumber}) is not used by proto3`);
    }
  }
  return records;
}

/** The elements of a packed repeated varint field (int32, int64, uint32, uint64, sint*, bool, enum). */
export function readPackedVarints(payload: Uint8Array): bigint[] {
  const cursor = new Cursor(payload);
  const values: bigint[] = [];
  while (!cursor.done) values.push(cursor.varint());
  return values;
}

/** The elements of a packed repeated fixed-width field (4 bytes: float, fixed32, sfixed32; 8 bytes: the others). */
export function readPackedFixed(payload: Uint8Array, width: 4 | 8): Uint8Array[] {
  if (payload.length % width !== 0) {
    throw new WireFormatError(0, `packed payload of ${payload.length} bytes is not a multiple of ${width}`);
  }
  const cursor = new Cursor(payload);
  const values: Uint8Array[] = [];
  while (!cursor.done) values.push(cursor.take(width));
  return values;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Little-endian readings of a fixed-width value, as each fixed-width protobuf type defines it. */
export const fixed = {
  double: (bytes: Uint8Array): number => view(bytes).getFloat64(0, true),
  float: (bytes: Uint8Array): number => view(bytes).getFloat32(0, true),
  fixed64: (bytes: Uint8Array): bigint => view(bytes).getBigUint64(0, true),
  sfixed64: (bytes: Uint8Array): bigint => view(bytes).getBigInt64(0, true),
  fixed32: (bytes: Uint8Array): number => view(bytes).getUint32(0, true),
  sfixed32: (bytes: Uint8Array): number => view(bytes).getInt32(0, true),
} as const;

/** The varint a sint32/sint64 value is written as (ZigZag: 0, -1, 1, -2 -> 0, 1, 2, 3). */
export function zigZag(value: bigint): bigint {
  return value >= 0n ? value << 1n : ((-value) << 1n) - 1n;
}

/** The varint an int32/int64/uint32/uint64/enum value is written as (negative numbers as 64-bit two's complement). */
export function twosComplement64(value: bigint): bigint {
  return BigInt.asUintN(64, value);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A string field's payload; throws on invalid UTF-8, which proto3 forbids in strings. */
export function readUtf8(payload: Uint8Array): string {
  return utf8.decode(payload);
}
