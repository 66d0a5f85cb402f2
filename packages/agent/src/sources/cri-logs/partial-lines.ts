// One stream's message being joined from partial records (CRI `P`, Docker json-file lines without `\n`). The
// parts are copied bytes (the read buffer is reused), joined and decoded once, so a character split between two
// records by the runtime comes out whole. Memory is bounded: the caller takes a piece before the parts would pass
// the maximum message size.

export class PartialMessage {
  active = false;
  /** File offset of the first record of the piece being joined. */
  offset = 0;
  seconds = 0;
  nanos = 0;
  /** Bytes held (the parts' total). */
  bytes = 0;
  /** A piece of this message was already sent: every later piece is flagged truncated too. */
  cut = false;
  /** File offset where the last record added ends. */
  lastEnd = 0;
  private parts: Buffer[] = [];

  begin(offset: number, seconds: number, nanos: number): void {
    this.active = true;
    this.offset = offset;
    this.seconds = seconds;
    this.nanos = nanos;
    this.cut = false;
  }

  /** Appends a copy of b[start..end). */
  append(b: Buffer, start: number, end: number): void {
    if (end <= start) return;
    this.parts.push(Buffer.from(b.subarray(start, end)));
    this.bytes += end - start;
  }

  appendText(text: string): void {
    if (text.length === 0) return;
    const bytes = Buffer.from(text, 'utf8');
    this.parts.push(bytes);
    this.bytes += bytes.length;
  }

  /**
   * Takes what was joined as text and empties the parts. With `keepIncomplete`, bytes of a character that is not
   * complete yet stay for the next piece (a cut between pieces never breaks a character).
   */
  take(keepIncomplete: boolean): string {
    const joined = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes);
    const cut = keepIncomplete ? utf8Boundary(joined, joined.length) : joined.length;
    const text = joined.toString('utf8', 0, cut);
    this.parts = cut < joined.length ? [Buffer.from(joined.subarray(cut))] : [];
    this.bytes = joined.length - cut;
    return text;
  }

  /** Ends the message (after its last piece was taken). */
  end(): void {
    this.active = false;
    this.parts = [];
    this.bytes = 0;
    this.cut = false;
  }
}

/**
 * The largest index <= end in b[..end) that does not fall inside a UTF-8 character whose bytes run past `end`:
 * cutting there keeps every character whole on one side.
 */
export function utf8Boundary(b: Uint8Array, end: number, start = 0): number {
  for (let i = end - 1, seen = 1; i >= start && seen <= 4; i--, seen++) {
    const c = b[i]!;
    if ((c & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    const length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return seen < length ? i : end;
  }
  return end;
}
