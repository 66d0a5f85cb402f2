// What every Kestrel process shares. Each process builds its graph from these in its own main.ts.
export * from './config.js';
export * from './logger.js';
export * from './metrics.js';
export * from './backoff.js';
export * from './http-server.js';
export * from './admin-socket.js';
export * from './debug-cli.js';
export * from './tls-material.js';
export * from './shutdown.js';
export * from './async-queue.js';
export * from './drop-oldest-queue.js';
export * from './tls-listener.js';
export * from './service-account.js';
export * from './kube-object.js';
export { followFiles, type FileFollower } from './file-follower.js';
export { tuneGarbageCollection, gcFlags, GC_FLAGS, type GcTuning } from './gc-tuning.js';
