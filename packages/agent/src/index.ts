// What other packages of the workspace (benchmarks, whole-system tests) use of the agent: the container log source
// as a component, with its events and settings. The agent process itself starts from main.ts.
export { CriLogSource, type SourceStatus, type TrackedFileView } from './sources/cri-logs/index.js';
export { CriLogEvents, type LossRecord } from './sources/cri-logs/events.js';
export type { CriLogsConfig } from './sources/cri-logs/config.js';
export type { ChunkOwner, FileChunk, LogLine, LogSink } from './sources/cri-logs/types.js';
export { agentSchema, loadAgentConfig, type AgentConfig } from './config.js';
export { rank } from './forwarder/rendezvous.js';
export { FlowSources, FlowSourceEvents, flowSourceSettings, flowSourcesConfigFrom, renderFlows, type FlowSourcesConfig, type FlowWindowSink, type FlowsView, type PendingFlowWindow } from './sources/flows/index.js';
export { NodeSource, nodeSourceSettings, nodeSourceOptionsFrom, OWN_CONDITION_TYPES, type NodeConditionSink, type NodeSourceOptions, type NodeSourceView } from './sources/node/index.js';
