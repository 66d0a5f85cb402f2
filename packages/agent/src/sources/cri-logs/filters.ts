// Which containers' logs are collected: include/exclude lists of globs (`*` any run of characters, `?` one) for
// namespaces, pods and containers, checked when a pod or container folder is found, so an excluded container costs
// no watch, no file and no read. A pod pattern with a `/` matches `namespace/pod`; a container pattern matches the
// container name, `pod/container` (one `/`) or `namespace/pod/container` (two). An empty include list includes all.
// The agent's own pod is always excluded: its logs describe what it ships, and shipping them would loop.
import type { ContainerIdentity, PodIdentity } from './pod-path.js';

export interface FilterConfig {
  includeNamespaces: readonly string[];
  excludeNamespaces: readonly string[];
  includePods: readonly string[];
  excludePods: readonly string[];
  includeContainers: readonly string[];
  excludeContainers: readonly string[];
  /** The agent's own pod (from the downward API), never collected. */
  ownPod: { namespace: string; name: string } | undefined;
}

export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

class Patterns {
  private readonly patterns: { re: RegExp; slashes: number }[];

  constructor(globs: readonly string[]) {
    this.patterns = globs.map((g) => ({ re: globToRegExp(g), slashes: g.split('/').length - 1 }));
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** candidates[i]: the name as written with i slashes (name, parent/name, grandparent/parent/name). */
  match(candidates: readonly string[]): boolean {
    return this.patterns.some((p) => p.slashes < candidates.length && p.re.test(candidates[p.slashes]!));
  }
}

export class LogFilter {
  private readonly includeNamespaces: Patterns;
  private readonly excludeNamespaces: Patterns;
  private readonly includePods: Patterns;
  private readonly excludePods: Patterns;
  private readonly includeContainers: Patterns;
  private readonly excludeContainers: Patterns;

  constructor(private readonly config: FilterConfig) {
    this.includeNamespaces = new Patterns(config.includeNamespaces);
    this.excludeNamespaces = new Patterns(config.excludeNamespaces);
    this.includePods = new Patterns(config.includePods);
    this.excludePods = new Patterns(config.excludePods);
    this.includeContainers = new Patterns(config.includeContainers);
    this.excludeContainers = new Patterns(config.excludeContainers);
  }

  /** Whether any container of this pod may be collected. */
  podAllowed(pod: PodIdentity): boolean {
    const own = this.config.ownPod;
    if (own && own.namespace === pod.namespace && own.name === pod.podName) return false;
    const ns = [pod.namespace];
    if (this.excludeNamespaces.match(ns) || (!this.includeNamespaces.empty && !this.includeNamespaces.match(ns))) return false;
    const names = [pod.podName, `${pod.namespace}/${pod.podName}`];
    return !this.excludePods.match(names) && (this.includePods.empty || this.includePods.match(names));
  }

  containerAllowed(c: ContainerIdentity): boolean {
    if (!this.podAllowed(c)) return false;
    const names = [c.containerName, `${c.podName}/${c.containerName}`, `${c.namespace}/${c.podName}/${c.containerName}`];
    return !this.excludeContainers.match(names) && (this.includeContainers.empty || this.includeContainers.match(names));
  }
}
