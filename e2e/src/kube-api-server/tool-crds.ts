// The CustomResourceDefinitions of the tools Kestrel Cloud remediates through (trimmed to what the API server needs:
// names, scope, served versions, the status subresource; schemas preserve unknown fields): Argo CD's Application,
// Argo Rollouts' Rollout, Flux's Kustomization, HelmRelease and GitRepository, Karpenter's NodePool and NodeClaim.
// Installing them is how a test "installs" a tool, including after the product has started; removing them is how it
// uninstalls one (the real deletion sequence of crds.ts applies).
import type { KubeObject } from './objects-meta.js';
import type { KubeApiServer } from './running-server.js';

export type Tool = 'argocd' | 'rollouts' | 'flux' | 'karpenter';

interface CrdShape {
  group: string;
  kind: string;
  plural: string;
  shortNames?: string[];
  scope: 'Namespaced' | 'Cluster';
  /** Served versions, the storage one first. */
  versions: string[];
}

const SHAPES: Record<Tool, CrdShape[]> = {
  argocd: [{ group: 'argoproj.io', kind: 'Application', plural: 'applications', shortNames: ['app', 'apps'], scope: 'Namespaced', versions: ['v1alpha1'] }],
  rollouts: [{ group: 'argoproj.io', kind: 'Rollout', plural: 'rollouts', shortNames: ['ro'], scope: 'Namespaced', versions: ['v1alpha1'] }],
  flux: [
    { group: 'kustomize.toolkit.fluxcd.io', kind: 'Kustomization', plural: 'kustomizations', shortNames: ['ks'], scope: 'Namespaced', versions: ['v1', 'v1beta2'] },
    { group: 'helm.toolkit.fluxcd.io', kind: 'HelmRelease', plural: 'helmreleases', shortNames: ['hr'], scope: 'Namespaced', versions: ['v2', 'v2beta2', 'v2beta1'] },
    { group: 'source.toolkit.fluxcd.io', kind: 'GitRepository', plural: 'gitrepositories', shortNames: ['gitrepo'], scope: 'Namespaced', versions: ['v1', 'v1beta2'] },
  ],
  karpenter: [
    { group: 'karpenter.sh', kind: 'NodePool', plural: 'nodepools', scope: 'Cluster', versions: ['v1'] },
    { group: 'karpenter.sh', kind: 'NodeClaim', plural: 'nodeclaims', scope: 'Cluster', versions: ['v1'] },
  ],
};

function crd(shape: CrdShape): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${shape.plural}.${shape.group}` },
    spec: {
      group: shape.group,
      names: { kind: shape.kind, plural: shape.plural, singular: shape.kind.toLowerCase(), listKind: `${shape.kind}List`, ...(shape.shortNames ? { shortNames: shape.shortNames } : {}) },
      scope: shape.scope,
      versions: shape.versions.map((name, i) => ({
        name,
        served: true,
        storage: i === 0,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        subresources: { status: {} },
      })),
    },
  };
}

/** The CRD objects of a tool. */
export function toolCrds(tool: Tool): KubeObject[] {
  return SHAPES[tool].map(crd);
}

/** Installs a tool's CRDs (served at once, as after the real establishing controller). */
export function installTool(server: KubeApiServer, tool: Tool): void {
  for (const object of toolCrds(tool)) server.apply(object);
}

/** Deletes a tool's CRDs: their objects are deleted and the kinds leave discovery. */
export function removeTool(server: KubeApiServer, tool: Tool): void {
  for (const object of toolCrds(tool)) server.delete('apiextensions.k8s.io/v1', 'CustomResourceDefinition', object.metadata.name!);
}
