// The cluster's DNS, for a process under test that runs outside a pod: preloaded with
// `NODE_OPTIONS=--import=<this file's URL>` and KESTREL_E2E_CLUSTER_DNS=<a JSON file {"name": ["ip", ...]}>, it
// answers getaddrinfo-style lookups (dns.lookup and dns.promises.lookup, what the agent resolves the aggregators'
// headless Service with) for the names in the file, as CoreDNS would from a Service's ready endpoints, and hands
// every other name to the real resolver. The file is read again at every lookup, so a test can change the answers
// (endpoints becoming ready). Nothing of the process's own code changes. Used by chart-install.test.ts.
import dns from 'node:dns';
import fs from 'node:fs';
import net from 'node:net';

export const CLUSTER_DNS_ENV = 'KESTREL_E2E_CLUSTER_DNS';

/** The env a process needs to use this stand-in with the answers in `file`. */
export function clusterDnsEnv(file: string): Record<string, string> {
  return { NODE_OPTIONS: `--import=${new URL(import.meta.url).href}`, [CLUSTER_DNS_ENV]: file };
}

/** Writes the answers: fully qualified name -> addresses. */
export function writeClusterDns(file: string, records: Record<string, string[]>): void {
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(records, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

function answers(hostname: string): dns.LookupAddress[] | undefined {
  const file = process.env[CLUSTER_DNS_ENV];
  if (!file) return undefined;
  let records: Record<string, string[]>;
  try {
    records = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string[]>;
  } catch {
    return undefined;
  }
  const addresses = records[hostname.replace(/\.$/, '')];
  return addresses?.map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }));
}

function notFound(hostname: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname });
}

type LookupOptions = { all?: boolean; family?: number | string } | number | undefined;

function pick(found: dns.LookupAddress[], options: LookupOptions): dns.LookupAddress[] {
  const family = typeof options === 'number' ? options : options?.family === 'IPv4' ? 4 : options?.family === 'IPv6' ? 6 : Number(options?.family ?? 0);
  return family === 4 || family === 6 ? found.filter((a) => a.family === family) : found;
}

if (process.env[CLUSTER_DNS_ENV]) {
  const realPromiseLookup = dns.promises.lookup.bind(dns.promises);
  dns.promises.lookup = (async (hostname: string, options?: LookupOptions) => {
    const found = answers(hostname);
    if (!found) return realPromiseLookup(hostname, options as never);
    const matching = pick(found, options);
    if (matching.length === 0) throw notFound(hostname);
    return typeof options === 'object' && options.all ? matching : matching[0];
  }) as typeof dns.promises.lookup;

  const realLookup = dns.lookup.bind(dns);
  dns.lookup = ((hostname: string, options: unknown, callback?: unknown) => {
    const cb = (typeof options === 'function' ? options : callback) as (err: Error | null, address?: unknown, family?: number) => void;
    const opts = (typeof options === 'function' ? undefined : options) as LookupOptions;
    const found = answers(hostname);
    if (!found) return (realLookup as (...args: unknown[]) => void)(hostname, ...(typeof options === 'function' ? [options] : [options, callback]));
    const matching = pick(found, opts);
    process.nextTick(() => {
      if (matching.length === 0) cb(notFound(hostname));
      else if (typeof opts === 'object' && opts.all) cb(null, matching);
      else cb(null, matching[0]!.address, matching[0]!.family);
    });
  }) as typeof dns.lookup;
}
