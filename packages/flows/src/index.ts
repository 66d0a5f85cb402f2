// @kestrel/flows: network flows from the sources Kestrel reads (Cilium Hubble, the AWS VPC CNI flow log) and their
// aggregation into ingest.v1 FlowWindows. Used by the agent (node socket, flow log file) and by the aggregator
// (Hubble Relay mode).
export { endpointKey, type Direction, type RawFlow } from './raw-flow.js';
export { FlowWindowTable, type WindowDropReason, type WindowTableOptions } from './window-table.js';
export { hubbleEndpoint, hubbleToRaw, type HubbleSkipReason } from './hubble-convert.js';
export { readGetFlowsResponse, type HubbleWireEvent } from './hubble-wire.js';
export { parseVpcCniLine, type VpcCniErrorReason, type VpcCniLine, type VpcCniSkipReason } from './vpc-cni-line.js';
export { ResumeTracker, type ResumePoint } from './resume-point.js';
export {
  DEFAULT_HUBBLE_SOCKET,
  RAW_FLOW_FIELDS,
  HubbleFlowStream,
  HubbleRawFlowStream,
  hubbleChannel,
  hubbleServerStatus,
  type HubbleFollowOptions,
  type HubbleHandlers,
  type HubbleRawHandlers,
  type HubbleStreamState,
  type HubbleTarget,
  type HubbleTls,
} from './hubble-client.js';
