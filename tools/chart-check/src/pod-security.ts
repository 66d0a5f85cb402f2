// What the chart promises about the pods whatever the values: node folders read-only except the agent's state
// folder, no host namespaces, no privileged container; and with the default securityContexts, no capability at all.
import type { Manifest } from './render.js';

interface Container {
  name: string;
  image: string;
  securityContext?: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
  };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  containers: Container[];
  volumes?: Array<{ name: string; hostPath?: { path: string } }>;
}

const podSpecs = (manifests: Manifest[]) =>
  manifests
    .filter((m) => m.kind === 'DaemonSet' || m.kind === 'Deployment')
    .map((m) => ({ at: `${m.kind} ${m.name}`, kind: m.kind, spec: (m.object as { spec: { template: { spec: PodSpec } } }).spec.template.spec }));

export function checkPodSecurity(manifests: Manifest[], { defaults }: { defaults: boolean }): string[] {
  const problems: string[] = [];
  for (const { at, kind, spec } of podSpecs(manifests)) {
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problems.push(`${at}: uses a host namespace`);
    const hostPaths = new Set((spec.volumes ?? []).filter((v) => v.hostPath).map((v) => v.name));
    if (kind === 'Deployment' && hostPaths.size > 0) problems.push(`${at}: the aggregator mounts no node folder`);
    for (const c of spec.containers) {
      const sc = c.securityContext ?? {};
      if (sc.privileged) problems.push(`${at}/${c.name}: privileged`);
      for (const m of c.volumeMounts ?? []) {
        if (hostPaths.has(m.name) && m.name !== 'state' && !m.readOnly) problems.push(`${at}/${c.name}: node folder ${m.mountPath} must be mounted read-only`);
      }
      if (!defaults) continue;
      if (sc.allowPrivilegeEscalation !== false) problems.push(`${at}/${c.name}: allowPrivilegeEscalation must be false`);
      if (sc.readOnlyRootFilesystem !== true) problems.push(`${at}/${c.name}: readOnlyRootFilesystem must be true`);
      if (!sc.capabilities?.drop?.includes('ALL') || (sc.capabilities.add ?? []).length > 0) problems.push(`${at}/${c.name}: must drop ALL capabilities and add none`);
      if (kind === 'Deployment' && sc.runAsNonRoot !== true) problems.push(`${at}/${c.name}: the aggregator runs as non-root`);
    }
  }
  return problems;
}

/** The images of both containers, as `<registry>/<repository>:<tag>`. */
export function images(manifests: Manifest[]): Map<string, string> {
  return new Map(podSpecs(manifests).flatMap(({ spec }) => spec.containers.map((c) => [c.name, c.image] as [string, string])));
}
