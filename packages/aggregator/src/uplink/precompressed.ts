// PodLogs compressed by the uplink itself, once, before they are written (docs/uplink.md, "Compression").
//
// grpc-js compresses every message it writes at zlib's default level 6 and has no setting for the level; it also
// compresses a replay again. The uplink instead gzips each PodLogs at a level of its own (cloudCompressionLevel: 6
// by default, the same bytes as before; 1 costs ~40 % less CPU for ~13 % more bytes) as soon as it is queued, and keeps only the compressed bytes:
// the queue, the writes and the replay window then hold ~6x less memory for the same lines, and a replay costs no
// compression. grpc-js is patched (patches/@grpc__grpc-js@1.14.7.patch) to frame a Buffer marked with
// PRECOMPRESSED_GZIP as a gzip message as it is, or to inflate it back when the call does not send gzip.
import zlib from 'node:zlib';
// Imported, not required at run time, so that the aggregator's bundle (scripts/bundle.mjs) checks the grpc-js it
// carries.
import * as compressionFilter from '@grpc/grpc-js/build/src/compression-filter.js';

/** The mark the patched grpc-js looks for on a message Buffer; its value is the uncompressed length. */
export const PRECOMPRESSED_GZIP = Symbol.for('grpc-js.precompressed-gzip');

type Marked = Buffer & { [PRECOMPRESSED_GZIP]?: number };

/**
 * Whether the grpc-js in use is the patched one. Without the patch a marked message would be compressed a second
 * time and the cloud would read gzip bytes as protobuf, so the uplink then leaves compression to grpc-js.
 */
export function grpcTakesPrecompressed(): boolean {
  const filter = compressionFilter as unknown as { PRECOMPRESSED_GZIP?: unknown; default?: { PRECOMPRESSED_GZIP?: unknown } };
  return (filter.PRECOMPRESSED_GZIP ?? filter.default?.PRECOMPRESSED_GZIP) === PRECOMPRESSED_GZIP;
}

/** Compresses a stream's request message for writing as it is (on libuv's thread pool). */
export function gzipForWire(wire: Uint8Array, level: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // One output chunk of about the size to expect: zlib's 16 KiB default would return the output in many pieces.
    zlib.gzip(wire, { level, chunkSize: Math.max(64 * 1024, Math.ceil(wire.length / 4)) }, (err, out) => {
      if (err) return reject(err);
      // zlib returns a single output chunk as a slice of its chunkSize buffer: kept in the queue and the replay
      // window for seconds, a 10 KB message would hold 64 KiB. A copy of the exact size costs less than that memory.
      const exact = out.length < out.buffer.byteLength ? Buffer.allocUnsafeSlow(out.length) : out;
      if (exact !== out) out.copy(exact);
      (exact as Marked)[PRECOMPRESSED_GZIP] = wire.length;
      resolve(exact);
    });
  });
}

/** Marks gzip bytes made by the caller (entry segments stitched into one member) as a message to send as it is. */
export function markPrecompressed(gzip: Buffer, plainLength: number): Buffer {
  (gzip as Marked)[PRECOMPRESSED_GZIP] = plainLength;
  return gzip;
}

/** The uncompressed length a marked message carries (undefined for an unmarked one). */
export function precompressedLength(bytes: Buffer): number | undefined {
  return (bytes as Marked)[PRECOMPRESSED_GZIP];
}

/** The request message inside a compressed one (the rare path: a message moved to another stream). */
export function gunzipWire(bytes: Buffer): Buffer {
  return zlib.gunzipSync(bytes);
}
