// What other packages (the bench) use of the metrics part: the parts, so each can be measured alone.
export { decodeExportRequest } from './otlp-decode.js';
export { MetricsStore, DEFAULT_STORE_LIMITS, type StoreLimits } from './store.js';
export { MetricsIngest, DEFAULT_INGEST_LIMITS } from './ingest.js';
export { MetricsEvents } from './events.js';
export { answerQuery, DEFAULT_QUERY_LIMITS } from './query.js';
export { OtlpReceiver, EXPORT_PATH } from './receiver.js';
