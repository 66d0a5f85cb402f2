// HPACK (RFC 7541), the header compression of HTTP/2, as much as a gRPC client needs: a full decoder (static and
// dynamic table, integers, raw and Huffman-coded strings) for the server's response headers and trailers, and an
// encoder of literal fields (no table, no Huffman) for the request, which is allowed for any header. grpc-h2.ts
// speaks HTTP/2 itself (one JavaScript call per socket read instead of one per DATA frame), so it decodes headers too.

/** RFC 7541 Appendix A. Index 1 is the first entry. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

// RFC 7541 Appendix B: the length in bits of each symbol's Huffman code (0-255, then 256 = EOS). The code is
// canonical (codes of one length are consecutive, in symbol order, after all shorter ones), so lengths define it.
// prettier-ignore
const HUFFMAN_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const EOS = 256;
const MAX_CODE_LENGTH = 30;

/** Per code length: the first code, how many codes, and where their symbols start in `HUFFMAN_SYMBOLS`. */
const HUFFMAN_FIRST_CODE = new Array<number>(MAX_CODE_LENGTH + 1).fill(0);
const HUFFMAN_COUNT = new Array<number>(MAX_CODE_LENGTH + 1).fill(0);
const HUFFMAN_FIRST_INDEX = new Array<number>(MAX_CODE_LENGTH + 1).fill(0);
const HUFFMAN_SYMBOLS = HUFFMAN_LENGTHS.map((_, symbol) => symbol).sort((a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b);
{
  for (const len of HUFFMAN_LENGTHS) HUFFMAN_COUNT[len]!++;
  let code = 0;
  let index = 0;
  for (let len = 1; len <= MAX_CODE_LENGTH; len++) {
    HUFFMAN_FIRST_CODE[len] = code;
    HUFFMAN_FIRST_INDEX[len] = index;
    code = (code + HUFFMAN_COUNT[len]!) * 2;
    index += HUFFMAN_COUNT[len]!;
  }
}

export class HpackError extends Error {
  constructor(message: string) {
    super(`HPACK: ${message}`);
    this.name = 'HpackError';
  }
}

/** Decodes a Huffman-coded string (RFC 7541 5.2): octets as latin1 text. */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const offset = code - HUFFMAN_FIRST_CODE[len]!;
      if (offset >= 0 && offset < HUFFMAN_COUNT[len]!) {
        const symbol = HUFFMAN_SYMBOLS[HUFFMAN_FIRST_INDEX[len]! + offset]!;
        if (symbol === EOS) throw new HpackError('EOS inside a Huffman-coded string');
        out.push(symbol);
        code = 0;
        len = 0;
      } else if (len >= MAX_CODE_LENGTH) throw new HpackError('invalid Huffman code');
    }
  }
  // What is left must be padding: fewer than 8 bits, all ones (the start of EOS).
  if (len > 7 || code !== 2 ** len - 1) throw new HpackError('invalid Huffman padding');
  return Buffer.from(out).toString('latin1');
}

export type HeaderList = (readonly [name: string, value: string])[];

/**
 * One connection's decoder: the dynamic table lives across the header blocks of the connection, so every block the
 * server sends must go through the same instance, in order.
 */
export class HpackDecoder {
  /** Newest first: dynamic index 62 is `table[0]`. */
  private table: [string, string][] = [];
  private size = 0;
  /** The table's size now: the announced maximum until the server lowers it with a size update. */
  private limit: number;

  /** `maxTableSize`: the SETTINGS_HEADER_TABLE_SIZE this side announced (4096 unless changed). */
  constructor(private readonly maxTableSize = 4096) {
    this.limit = maxTableSize;
  }

  decode(block: Uint8Array): HeaderList {
    const headers: HeaderList = [];
    let at = 0;
    const end = block.length;
    const int = (prefixBits: number): number => {
      if (at >= end) throw new HpackError('truncated integer');
      const max = (1 << prefixBits) - 1;
      let value = block[at++]! & max;
      if (value < max) return value;
      let shift = 1;
      for (;;) {
        if (at >= end) throw new HpackError('truncated integer');
        const b = block[at++]!;
        value += (b & 0x7f) * shift;
        if (b < 0x80) return value;
        shift *= 128;
        if (shift > 2 ** 28) throw new HpackError('integer too large');
      }
    };
    const string = (): string => {
      if (at >= end) throw new HpackError('truncated string');
      const huffman = (block[at]! & 0x80) !== 0;
      const len = int(7);
      if (at + len > end) throw new HpackError('truncated string');
      const s = huffman ? huffmanDecode(block, at, at + len) : Buffer.from(block.buffer, block.byteOffset + at, len).toString('latin1');
      at += len;
      return s;
    };
    let fieldSeen = false;
    while (at < end) {
      const b = block[at]!;
      if (b & 0x80) {
        headers.push(this.entry(int(7)));
        fieldSeen = true;
      } else if (b & 0x40) {
        const index = int(6);
        const name = index === 0 ? string() : this.entry(index)[0];
        const value = string();
        this.add(name, value);
        headers.push([name, value]);
        fieldSeen = true;
      } else if (b & 0x20) {
        // A dynamic table size update: only at the start of a block, and within what this side allowed.
        if (fieldSeen) throw new HpackError('table size update after a header field');
        const size = int(5);
        if (size > this.maxTableSize) throw new HpackError(`table size ${size} over the announced ${this.maxTableSize}`);
        this.limit = size;
        this.evict(0);
      } else {
        // Literal without indexing (0000) or never indexed (0001): same shape, nothing added to the table.
        const index = int(4);
        const name = index === 0 ? string() : this.entry(index)[0];
        headers.push([name, string()]);
        fieldSeen = true;
      }
    }
    return headers;
  }

  private entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const e = this.table[index - STATIC_TABLE.length - 1];
    if (!e) throw new HpackError(`index ${index} beyond the dynamic table`);
    return e;
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.evict(size);
    // An entry larger than the whole table empties it and is not added (RFC 7541 4.4).
    if (size > this.limit) return;
    this.table.unshift([name, value]);
    this.size += size;
  }

  private evict(room: number): void {
    while (this.table.length > 0 && this.size + room > this.limit) {
      const [n, v] = this.table.pop()!;
      this.size -= n.length + v.length + 32;
    }
  }
}

function encodeInt(out: number[], prefix: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(prefix | value);
    return;
  }
  out.push(prefix | max);
  value -= max;
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

/** Encodes header fields as literals without indexing, with literal names (no table state on either side). */
export function encodeLiteralHeaders(headers: HeaderList): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    out.push(0);
    encodeInt(out, 0, 7, n.length);
    for (const b of n) out.push(b);
    encodeInt(out, 0, 7, v.length);
    for (const b of v) out.push(b);
  }
  return Buffer.from(out);
}
