// Reads pod and container identity from the kubelet's log path:
// <root>/<namespace>_<pod-name>_<pod-uid>/<container-name>/<restart-count>.log
// Namespace and pod names cannot contain `_` (DNS labels/subdomains), so splitting on it is unambiguous.
import path from 'node:path';

export interface ContainerLogIdentity {
  namespace: string;
  podName: string;
  podUid: string;
  containerName: string;
  restartCount: number;
}

export function parsePodLogPath(root: string, file: string): ContainerLogIdentity | null {
  const rel = path.relative(root, file).split(path.sep);
  if (rel.length !== 3) return null;
  const [podDir, containerName, fileName] = rel as [string, string, string];
  const parts = podDir.split('_');
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) return null;
  const m = /^(\d+)\.log$/.exec(fileName);
  if (!m || !containerName) return null;
  return { namespace: parts[0]!, podName: parts[1]!, podUid: parts[2]!, containerName, restartCount: Number(m[1]) };
}
