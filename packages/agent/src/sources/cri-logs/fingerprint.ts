// A file's identity beyond device+inode: the kubelet and conmon create and delete log files quickly, and inode
// numbers are reused within seconds (see node-files.md), so we also hash the file's first bytes.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/** How many leading bytes identify a file; a shorter file is fingerprinted over what it has so far. */
export const FINGERPRINT_BYTES = 256;

/** 48 bits of SHA-256, so the value is an exact JavaScript number and fits the uint64 wire field. */
export function hashBytes(bytes: Buffer): number {
  return createHash('sha256').update(bytes).digest().readUIntBE(0, 6);
}

export async function fingerprintOf(handle: FileHandle, length: number): Promise<{ fingerprint: number; fingerprintLength: number }> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, 0);
  return { fingerprint: hashBytes(buffer.subarray(0, bytesRead)), fingerprintLength: bytesRead };
}
