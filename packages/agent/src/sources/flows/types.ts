// What the flow sources hand to the forwarder: one closed window of one source, with what to do once it is safe.
import type { FlowWindow } from '@kestrel/proto/ingest/v1';

export interface PendingFlowWindow {
  window: FlowWindow;
  /** The batch carrying it, and every batch before it, were acknowledged: its resume point may be saved. */
  committed(): void;
  /** It was dropped before it was sent (the forwarder's buffer was full); counted by the source. */
  dropped(reason: string): void;
}

/** The forwarder's side: takes a window into a bounded drop-oldest buffer; never blocks. */
export interface FlowWindowSink {
  flowWindow(item: PendingFlowWindow): void;
}
