// A minimal protobuf wire reader for the OTLP decoder (otlp-decode.ts): varints, fixed 32/64-bit values and
// length-delimited fields over one Buffer, without copying. 64-bit integers come out as numbers computed from two
// 32-bit halves, so values beyond 2^53 (nanosecond timestamps) lose only low-order precision instead of throwing as
// the generated code does. Malformed input throws WireError, which the receiver reports as INVALID_ARGUMENT.

export class WireError extends Error {}

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

const TWO_32 = 4294967296;

export class WireReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** The next tag as [field number, wire type]. */
  tag(): [number, number] {
    const t = this.varint();
    return [Math.floor(t / 8), t & 7];
  }

  /** An unsigned varint as a number (exact up to 2^53). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  /** A varint read as int64 (two's complement: negative values are 10-byte varints); BigInt keeps the sign exact. */
  int64(): number {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return Number(BigInt.asIntN(64, result));
      shift += 7n;
    }
    throw new WireError('varint longer than 10 bytes');
  }

  sint32(): number {
    const v = this.varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }

  bool(): boolean {
    return this.varint() !== 0;
  }

  fixed64(): number {
    this.need(8);
    const low = this.buf.readUInt32LE(this.pos);
    const high = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
    return high * TWO_32 + low;
  }

  sfixed64(): number {
    this.need(8);
    const low = this.buf.readUInt32LE(this.pos);
    const high = this.buf.readInt32LE(this.pos + 4);
    this.pos += 8;
    return high * TWO_32 + low;
  }

  double(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A length-delimited field as a sub-reader over its bytes. */
  sub(): WireReader {
    const len = this.varint();
    this.need(len);
    const r = new WireReader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }

  bytes(): Buffer {
    const len = this.varint();
    this.need(len);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  string(): string {
    const len = this.varint();
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** Repeated numeric fields may come packed (one length-delimited run) or one value per tag; reads either. */
  repeated(wireType: number, read: (r: WireReader) => number, into: number[]): void {
    if (wireType === WireType.LengthDelimited) {
      const r = this.sub();
      while (!r.done) into.push(read(r));
    } else {
      into.push(read(this));
    }
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WireType.Varint:
        this.varint();
        return;
      case WireType.Fixed64:
        this.need(8);
        this.pos += 8;
        return;
      case WireType.LengthDelimited: {
        const len = this.varint();
        this.need(len);
        this.pos += len;
        return;
      }
      case WireType.Fixed32:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw new WireError(`unsupported wire type ${wireType}`);
    }
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new WireError('truncated message');
  }
}
