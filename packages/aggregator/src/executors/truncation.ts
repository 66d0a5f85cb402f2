// The size limit on what goes back to the cloud, with an explicit marker: a cut answer must never look complete.

/** Appended to every cut answer; `total` is undefined when the rest was not even read. */
export const truncationMarker = (limit: number, total: number | undefined): string =>
  `\n[kestrel-operator: truncated at ${limit} bytes${total === undefined ? '; the rest was not read' : ` of ${total}`}]`;

/** Cuts a UTF-8 buffer to at most `limit` bytes without splitting a character. */
function cutUtf8(buffer: Buffer, limit: number): string {
  if (buffer.length <= limit) return buffer.toString('utf8');
  let end = limit;
  // Step back over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (buffer[end]! & 0xc0) === 0x80) end--;
  return buffer.subarray(0, end).toString('utf8');
}

/**
 * The text to answer with: the whole of it when it fits, else its first `limit` bytes and the marker.
 * `moreUnread` says the buffer itself was already cut while reading (so its length is not the total).
 */
export function limitText(data: Buffer | string, limit: number, moreUnread = false): { text: string; truncated: boolean; bytes: number } {
  const buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (buffer.length <= limit && !moreUnread) return { text: buffer.toString('utf8'), truncated: false, bytes: buffer.length };
  const text = cutUtf8(buffer, limit) + truncationMarker(limit, moreUnread ? undefined : buffer.length);
  return { text, truncated: true, bytes: Buffer.byteLength(text) };
}
