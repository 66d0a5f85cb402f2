// How full a filesystem is, from statfs(2) of a path on it: space as `df` counts it (used / (used + available to
// unprivileged users), so the root-reserved blocks count as full) and inodes (a filesystem out of inodes is as full
// as one out of blocks). statfs is injectable so tests can say how full a disk is.
import fs from 'node:fs';

export interface StatfsResult {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

export type StatfsFn = (path: string) => Promise<StatfsResult>;

export const realStatfs: StatfsFn = (path) => fs.promises.statfs(path);

export interface FillLevel {
  /** Percent of the space usable by unprivileged users that is used. */
  spacePercent: number;
  /** Percent of inodes used; 0 when the filesystem reports none (btrfs and others allocate them dynamically). */
  inodesPercent: number;
}

export function fillLevel(s: StatfsResult): FillLevel {
  const used = Math.max(0, s.blocks - s.bfree);
  const usable = used + Math.max(0, s.bavail);
  return {
    spacePercent: usable > 0 ? (used / usable) * 100 : 0,
    inodesPercent: s.files > 0 ? (Math.max(0, s.files - s.ffree) / s.files) * 100 : 0,
  };
}
