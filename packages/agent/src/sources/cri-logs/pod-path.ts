// Reads pod and container identity from the kubelet's log paths:
//   <root>/<namespace>_<pod-name>_<pod-uid>/<container-name>/<restart-count>.log            the live file
//   <root>/<namespace>_<pod-name>_<pod-uid>/<container-name>/<restart-count>.log.<YYYYMMDD-hhmmss>      rotated
//   <root>/<namespace>_<pod-name>_<pod-uid>/<container-name>/<restart-count>.log.<YYYYMMDD-hhmmss>.gz   compressed
// Namespace and pod names cannot contain `_` (DNS labels/subdomains), so splitting on it is unambiguous.
import path from 'node:path';

export interface PodIdentity {
  namespace: string;
  podName: string;
  podUid: string;
}

export interface ContainerIdentity extends PodIdentity {
  containerName: string;
}

export interface ContainerLogIdentity extends ContainerIdentity {
  restartCount: number;
}

export type LogFileKind = 'live' | 'rotated' | 'gzip';

export interface LogFileName {
  restartCount: number;
  kind: LogFileKind;
  /** The kubelet's rotation timestamp (YYYYMMDD-hhmmss), '' for the live file. Sorts in time order. */
  rotatedAt: string;
}

export function parsePodDir(name: string): PodIdentity | null {
  const parts = name.split('_');
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) return null;
  return { namespace: parts[0]!, podName: parts[1]!, podUid: parts[2]! };
}

const LOG_NAME = /^(\d{1,9})\.log(?:\.(\d{8}-\d{6}(?:\.\d+)?)(\.gz)?)?$/;

/** The kind of a file in a container folder, or null for anything else (e.g. the kubelet's `.gz.tmp`). */
export function parseLogFileName(name: string): LogFileName | null {
  const m = LOG_NAME.exec(name);
  if (!m) return null;
  const restartCount = Number(m[1]);
  if (m[2] === undefined) return { restartCount, kind: 'live', rotatedAt: '' };
  return { restartCount, kind: m[3] ? 'gzip' : 'rotated', rotatedAt: m[2] };
}

/** Identity of a live log file from its path (only `<N>.log` files; rotated ones are not live files). */
export function parsePodLogPath(root: string, file: string): ContainerLogIdentity | null {
  const rel = path.relative(root, file).split(path.sep);
  if (rel.length !== 3) return null;
  const [podDir, containerName, fileName] = rel as [string, string, string];
  const pod = parsePodDir(podDir);
  const name = parseLogFileName(fileName);
  if (!pod || !name || name.kind !== 'live' || !containerName) return null;
  return { ...pod, containerName, restartCount: name.restartCount };
}
