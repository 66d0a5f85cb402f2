// Following a few files that are replaced as a whole (a mounted Secret: the kubelet swaps a symlink, so the files'
// folders are watched, not the files) plus a slow poll as a safety net (inotify events can be missed on some volume
// types). A burst of events (several files of one Secret update) leads to one call, 200 ms after the last event.
import fs from 'node:fs';
import path from 'node:path';

export interface FileFollower {
  close(): void;
}

export function followFiles(files: readonly string[], onChange: () => void, pollIntervalMs: number): FileFollower {
  const watchers: fs.FSWatcher[] = [];
  let debounce: NodeJS.Timeout | undefined;
  const scheduled = () => {
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(onChange, 200);
    debounce.unref();
  };
  for (const folder of new Set(files.map((f) => path.dirname(f)))) {
    try {
      const watcher = fs.watch(folder, scheduled);
      watcher.on('error', () => undefined); // the poll keeps working if a folder goes away
      watchers.push(watcher);
    } catch {
      // Not watchable (missing, some network volumes): the poll covers it.
    }
  }
  const poll = setInterval(onChange, pollIntervalMs);
  poll.unref();
  return {
    close() {
      for (const w of watchers) w.close();
      watchers.length = 0;
      clearInterval(poll);
      if (debounce) clearTimeout(debounce);
    },
  };
}
