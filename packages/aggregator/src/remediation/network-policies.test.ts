import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePolicy } from './network-policies.js';

const valid = 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: shop}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n';
const error = (text: string) => {
  try {
    parsePolicy(text);
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

test('a NetworkPolicy in YAML or JSON is accepted as the object it describes', () => {
  assert.deepEqual(parsePolicy(valid)['metadata'], { name: 'a', namespace: 'shop' });
  assert.equal(parsePolicy(JSON.stringify(parsePolicy(valid)))['kind'], 'NetworkPolicy');
});

test('what the published operator refuses before the API server is refused with its reason', () => {
  assert.equal(error('  \n'), 'policy is empty');
  assert.match(error('a: [b'), /^failed to parse policy: /);
  assert.match(error('- a\n- b\n'), /^failed to parse policy: not a YAML object$/);
  assert.match(error(valid.replace('NetworkPolicy', 'CiliumNetworkPolicy')), /^failed to parse policy: only networking\.k8s\.io\/v1 NetworkPolicy is accepted, not networking\.k8s\.io\/v1 CiliumNetworkPolicy$/);
  assert.match(error(valid.replace('networking.k8s.io/v1', 'networking.k8s.io/v1beta1')), /only networking\.k8s\.io\/v1 NetworkPolicy/);
  assert.match(error(valid.replace('Egress', 'Both')), /spec\.policyTypes: unsupported value "Both"/);
  assert.match(error(valid.replace(', namespace: shop', '')), /metadata\.namespace is required/);
  assert.match(error(valid.replace('name: a, ', '')), /metadata\.name is required/);
});
