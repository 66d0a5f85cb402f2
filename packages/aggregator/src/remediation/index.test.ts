import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, createRegistry } from '@kestrel/core';
import { QueryDispatcher } from '../queries/dispatch.js';
import { Remediation, renderRemediation } from './index.js';
import { remediationConfigFrom } from './settings.js';
import { loadAggregatorConfig } from '../config.js';

test('the Datadog family registering later is followed like a tool: the cluster watch is told to re-send its commit', async () => {
  const kc = new KubeConfig();
  // Discovery cannot reach this: only the Datadog change can cause a call.
  kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  const logger = createLogger('t', 'error');
  logger.silent = true;
  const config = remediationConfigFrom(
    loadAggregatorConfig(['--remediation-discovery-interval', '20ms'], {
      KESTREL_AGGREGATOR_INGEST_TLS_CERT_FILE: '/c', KESTREL_AGGREGATOR_INGEST_TLS_KEY_FILE: '/k', KESTREL_AGGREGATOR_INGEST_TLS_CA_FILE: '/a',
      KESTREL_AGGREGATOR_CLOUD_CERT_FILE: '/c', KESTREL_AGGREGATOR_CLOUD_KEY_FILE: '/k', KESTREL_AGGREGATOR_CLOUD_CA_FILE: '/a', KESTREL_AGGREGATOR_CLOUD_TOKEN_FILE: '/t',
    }),
  );
  const queries = new QueryDispatcher();
  let changes = 0;
  const remediation = new Remediation(config, { kubeConfig: kc, registry: createRegistry('t', false), logger, queries, presenceChanged: () => changes++ });
  const stop = new AbortController();
  const running = remediation.run(stop.signal);
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(changes, 0, 'nothing changed yet');
  queries.register({ name: 'Datadog', handle: async () => ({ success: true, responseData: '{}', errorMessage: '', statusCode: 200 }) });
  const deadline = Date.now() + 5000;
  while (changes === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(changes, 1);
  assert.deepEqual(remediation.flags(), { hasArgocd: false, hasRollouts: false, hasFlux: false, hasKarpenter: false }, 'discovery failed: no tool claimed');
  stop.abort();
  await running;
});

test('the debug view reads as one line per family: writes on (where) or off, and actions by decision', () => {
  const text = renderRemediation({
    tools: { argocd: true, rollouts: false, flux: false, karpenter: true },
    lastDiscoveryError: null,
    families: { ArgoCD: { writes: true, namespaces: ['argocd'] }, Karpenter: { writes: false, namespaces: [] } },
    actionsPerMinute: 30,
    actions: { ArgoCD: { applied: 2, refused: 1 } },
  });
  assert.equal(text, ['tools: argocd found, rollouts absent, flux absent, karpenter found', 'rate limit: 30 actions per minute per family', 'ArgoCD: writes ON in argocd; applied 2, refused 1', 'Karpenter: writes off'].join('\n'));
  assert.equal(renderRemediation({ enabled: false, reason: 'no Kubernetes access' }), 'remediation off: no Kubernetes access');
});
