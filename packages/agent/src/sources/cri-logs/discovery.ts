// Finds container log files under the pods root: <root>/<ns>_<pod>_<uid>/<container>/<N>.log. A periodic scan
// is the safety net that never misses a file; file-system events on the root only make it react sooner.
import fs from 'node:fs/promises';
import path from 'node:path';
import { parsePodLogPath, type ContainerLogIdentity } from './pod-path.js';

export interface DiscoveredFile {
  path: string;
  container: ContainerLogIdentity;
}

export async function scanPodLogs(root: string): Promise<DiscoveredFile[]> {
  const found: DiscoveredFile[] = [];
  for (const podDir of await listDir(root)) {
    const podPath = path.join(root, podDir);
    for (const containerDir of await listDir(podPath)) {
      const containerPath = path.join(podPath, containerDir);
      for (const name of await listDir(containerPath)) {
        if (!name.endsWith('.log')) continue;
        const file = path.join(containerPath, name);
        const container = parsePodLogPath(root, file);
        if (container) found.push({ path: file, container });
      }
    }
  }
  return found;
}

/** Folder entries; a folder that vanished or is not a folder reads as empty (pods come and go during a scan). */
async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}
