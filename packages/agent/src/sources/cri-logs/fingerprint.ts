// A file's identity beyond device+inode: the kubelet and conmon create and delete log files quickly, and inode
// numbers are reused within seconds (see node-files.md), so we also hash the file's first bytes. The hash is over
// the uncompressed content, so a rotated file the kubelet gzip-compressed (new inode, new name) is recognised by
// the same fingerprint: decompress its first bytes and compare.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { constants, gunzipSync } from 'node:zlib';

/** How many leading bytes identify a file; a shorter file is fingerprinted over what it has so far. */
export const FINGERPRINT_BYTES = 256;

/** 48 bits of SHA-256, so the value is an exact JavaScript number and fits the uint64 wire field. */
export function hashBytes(bytes: Uint8Array): number {
  return createHash('sha256').update(bytes).digest().readUIntBE(0, 6);
}

export async function fingerprintOf(handle: FileHandle, length: number): Promise<{ fingerprint: number; fingerprintLength: number }> {
  const buffer = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buffer, got, length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return { fingerprint: hashBytes(buffer.subarray(0, got)), fingerprintLength: got };
}

/** The first `length` bytes of a gzip file's content (fewer if it is shorter); throws when it is not gzip. */
export async function gzipPrefix(handle: FileHandle, length: number): Promise<Buffer> {
  // Decompress a growing prefix of the compressed bytes (a sync flush accepts an incomplete stream) until it
  // gives enough content or the file ends. 256 bytes of logs need a few hundred compressed bytes at most.
  const { size } = await handle.stat();
  for (let compressed = Math.min(size, 4096); ; compressed = Math.min(size, compressed * 4)) {
    const input = Buffer.alloc(compressed);
    const { bytesRead } = await handle.read(input, 0, compressed, 0);
    const out = gunzipSync(input.subarray(0, bytesRead), { finishFlush: constants.Z_SYNC_FLUSH });
    if (out.length >= length || compressed >= size || compressed >= 1 << 22) return out.subarray(0, Math.min(length, out.length));
  }
}

export async function gzipFingerprint(handle: FileHandle, length: number): Promise<{ fingerprint: number; fingerprintLength: number }> {
  const prefix = await gzipPrefix(handle, length);
  return { fingerprint: hashBytes(prefix), fingerprintLength: prefix.length };
}

/** The uncompressed size a gzip file declares in its trailer (ISIZE: the size modulo 2^32). */
export async function gzipDeclaredSize(handle: FileHandle): Promise<number> {
  const { size } = await handle.stat();
  if (size < 18) return 0;
  const trailer = Buffer.alloc(4);
  await handle.read(trailer, 0, 4, size - 4);
  return trailer.readUInt32LE(0);
}
