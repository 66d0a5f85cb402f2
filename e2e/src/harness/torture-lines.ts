// What the torture test's writers write, as a pure function of (container key, sequence number), so that the
// writer processes and the test agree on every line without telling each other: its message (mixed lengths: most
// short, some of a few KiB, a few longer than containerd's 16 KiB partial records), its stream, its CRI records.

/** 32-bit FNV-1a: the seeded randomness of the lines. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export const PARTIAL_RECORD_BYTES = 16 * 1024;

export function messageOf(key: string, seq: number): string {
  const h = hash32(`${key}#${seq}`);
  const r = h / 0x1_0000_0000;
  const length = r < 0.004 ? 20_000 + (h % 20_000) : r < 0.03 ? 1000 + (h % 3000) : 20 + (h % 180);
  const word = h.toString(36);
  let filler = '';
  while (filler.length < length) filler += `${word} `;
  return `${key}#${seq} ${filler.slice(0, length)}`;
}

export const streamOf = (seq: number): 'stdout' | 'stderr' => (seq % 7 === 0 ? 'stderr' : 'stdout');

/** The message's CRI records as containerd writes them: split into 16 KiB partial records when longer. */
export function criRecords(timestamp: string, stream: 'stdout' | 'stderr', message: string): string {
  if (message.length <= PARTIAL_RECORD_BYTES) return `${timestamp} ${stream} F ${message}\n`;
  let out = '';
  for (let i = 0; i < message.length; i += PARTIAL_RECORD_BYTES) {
    out += `${timestamp} ${stream} ${i + PARTIAL_RECORD_BYTES < message.length ? 'P' : 'F'} ${message.slice(i, i + PARTIAL_RECORD_BYTES)}\n`;
  }
  return out;
}

/** A Java stack trace whose header names the line (`key#seq`); the agent groups it into one record. */
export function traceOf(key: string, seq: number): string[] {
  return [
    `java.lang.IllegalStateException: ${key}#${seq} order has no lines`,
    '\tat com.example.shop.OrderService.total(OrderService.java:87)',
    '\tat com.example.shop.OrderController.checkout(OrderController.java:41)',
    'Caused by: java.lang.NullPointerException: lines is null',
    '\t... 2 more',
  ];
}

/** Deterministic binary garbage of `bytes` bytes, ending with a newline (not CRI: forwarded raw, flagged). */
export function garbageOf(seed: number, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  out[bytes - 1] = 10;
  return out;
}
