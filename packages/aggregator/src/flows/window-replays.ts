// Windows already merged, by identity (node, source, start, end), so that an agent resending a window it has no
// acknowledgement for (a reconnect, another replica's stream cut) is not counted twice. The resend is acknowledged
// once the original's bucket is delivered. Bounded: the oldest identities are forgotten first (a window older than
// the remembered ones is past any resend an agent does; one that comes anyway is counted again — at least once).
import type { FlowWindow } from '@kestrel/proto/ingest/v1';
import { timestampMs } from '@kestrel/core';

export class WindowReplays {
  private readonly seen = new Map<string, Promise<void>>();

  constructor(private readonly max: number) {}

  static key(node: string, w: FlowWindow): string {
    return `${node}|${w.source}|${timestampMs(w.windowStart)}|${timestampMs(w.windowEnd)}|${w.rawFlows}`;
  }

  /** The delivery of the window merged before under this key, if any. */
  earlier(key: string): Promise<void> | undefined {
    return this.seen.get(key);
  }

  remember(key: string, delivered: Promise<void>): void {
    this.seen.set(key, delivered);
    // A window whose bucket failed (shutdown, uplink stopped) was not delivered: its resend must be merged again.
    delivered.catch(() => {
      if (this.seen.get(key) === delivered) this.seen.delete(key);
    });
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value!);
  }
}
