// Who an agent stream speaks for. The ingest service asks this after the agent's Hello: the stream is served only
// when the peer proves it runs on the node it names. How it proves it (client certificate or ServiceAccount token)
// is the identity module's business; see docs/transport.md.
import type { Metadata, Status } from 'nice-grpc';

export interface AgentCall {
  /** host:port of the peer, as gRPC reports it. */
  peer: string;
  metadata: Metadata;
}

export type AgentIdentityVerdict =
  | { accepted: true; node: string; /** What proved it, for logs and `debug agents` (certificate CN, SA user). */ subject: string }
  | { accepted: false; status: Status; /** A metric label: short, fixed set. */ reason: string; message: string };

export interface AgentIdentityCheck {
  verify(call: AgentCall, claimedNode: string): Promise<AgentIdentityVerdict>;
}
