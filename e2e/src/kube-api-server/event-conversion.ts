// core/v1 Event and events.k8s.io/v1 Event are one stored object seen through two versions, as in the real server:
// an Event a kubelet records through one API is listed and watched through the other. Stored in the core/v1 form;
// the field names follow k8s.io/kubernetes/pkg/apis/events/v1/conversion.go.
import type { KubeObject } from './objects-meta.js';
import type { VersionConversion } from './resources.js';

// [events.k8s.io/v1 name, core/v1 name]
const RENAMED: readonly (readonly [string, string])[] = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['reportingController', 'reportingComponent'],
  ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
];

function rename(object: KubeObject, pairs: readonly (readonly [string, string])[], apiVersion: string): KubeObject {
  const out: KubeObject = { ...object, apiVersion };
  for (const [from, to] of pairs) {
    if (from in out) {
      out[to] = out[from];
      delete out[from];
    }
  }
  return out;
}

export const eventsV1Conversion: VersionConversion = {
  toStorage: (object) => rename(object, RENAMED, 'v1'),
  fromStorage: (object) => rename(object, RENAMED.map(([a, b]) => [b, a] as const), 'events.k8s.io/v1'),
};
