// Memory freed when its owner is done with it, not when V8 next finds it dead.
//
// V8 frees a Buffer's memory (an ArrayBuffer's backing store, outside the JS heap) only once a collection finds
// the Buffer dead: a young one at the next scavenge, an old one at the next mark-compact, which V8 starts for
// such memory only after it grew ~64 MB since the last. Code that makes a large buffer, reads it once and drops it
// many times a second (the aggregator inflates every agent segment to check it: ~1 MiB per batch) keeps tens of MB
// of such dead buffers in the process. Detaching the ArrayBuffer (`transfer(0)`) frees it at once; every view of it
// then reads as empty, so only the one who made it, and knows no one else holds a view, may do so.
import { Buffer } from 'node:buffer';

/**
 * Frees `bytes`' memory now if `bytes` is the whole of an ArrayBuffer (never a slice of Buffer's shared pool, whose
 * other slices belong to others). The caller must have made it and must not read it, or any view of it, again.
 * Returns whether it was freed.
 */
export function freeOwned(bytes: Uint8Array): boolean {
  const whole = bytes.buffer;
  if (!(whole instanceof ArrayBuffer) || whole.detached) return false;
  if (bytes.byteOffset !== 0 || bytes.byteLength !== whole.byteLength) return false;
  return detach(whole);
}

/**
 * Frees the memory behind a view into a buffer that `Buffer.allocUnsafe(size)` (or zlib, with `size` as its chunk
 * size) made for the caller alone: such a buffer has an ArrayBuffer of its own when `size` is at least half of
 * Buffer's pool size, and is a slice of the shared pool otherwise (then nothing is freed). Returns whether it was.
 */
export function freeOwnedAllocation(view: Uint8Array, size: number): boolean {
  const whole = view.buffer;
  if (size < Buffer.poolSize >>> 1 || !(whole instanceof ArrayBuffer) || whole.detached || whole.byteLength !== size) return false;
  return detach(whole);
}

/** Some ArrayBuffers cannot be detached (WebAssembly memory; Node marks a few of its own so): they wait for V8. */
function detach(whole: ArrayBuffer): boolean {
  try {
    whole.transfer(0);
    return true;
  } catch {
    return false;
  }
}
