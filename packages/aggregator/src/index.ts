// The aggregator as a library, for e2e tests and benchmarks that run parts of it in-process (the uplink against an
// in-process cloud, the ingest service against a fake uplink). The process itself is main.ts.
export { Uplink, type UplinkConfig, type UplinkDeps, type UplinkView, type StreamView, type Accepted } from './uplink/index.js';
export { STREAM_NAMES, type StreamName, type UplinkRecord, type RecordKind } from './uplink/records.js';
export { tokenFileWriter, certificateFilesWriter, type TokenWriter, type CertificateWriter } from './uplink/credential-writers.js';
export { IngestService, type IngestSink } from './ingest/service.js';
export { aggregatorSchema, loadAggregatorConfig, type AggregatorConfig } from './config.js';
