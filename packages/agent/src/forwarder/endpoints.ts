// Where the aggregator replicas are. The list comes from settings (host:port entries) or from a file read again at
// each resolve (local runs). A DNS name stands for every address it resolves to: the chart gives agents a headless
// Service, whose name resolves to one address per ready aggregator pod. getaddrinfo (dns.lookup) is used rather
// than a DNS query so that the pod's resolv.conf search domains apply, as for any other name in the cluster.
import dns from 'node:dns/promises';
import fs from 'node:fs/promises';
import net from 'node:net';

export interface Endpoint {
  /** host:port to dial (an IP address). */
  address: string;
  /** The name the server certificate is checked against. */
  serverName: string;
  /** What the rendezvous hash uses: the address (one per replica pod). */
  key: string;
}

export type Lookup = (host: string) => Promise<string[]>;

const systemLookup: Lookup = async (host) => (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

export function splitHostPort(entry: string): { host: string; port: number } {
  const i = entry.lastIndexOf(':');
  return { host: entry.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(entry.slice(i + 1)) };
}

const joinHostPort = (host: string, port: number) => (net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);

export interface EndpointSource {
  /** host:port entries; or a file with one per line (blank lines and # comments ignored). */
  entries?: readonly string[];
  file?: string;
  /** Overrides the certificate name for every endpoint. */
  serverName?: string;
}

/**
 * Resolves the source to endpoints, deduplicated. An entry that does not resolve is reported in `errors` and
 * skipped (the others still count): one bad name must not take the agent off the replicas it can reach.
 */
export async function resolveEndpoints(source: EndpointSource, lookup: Lookup = systemLookup): Promise<{ endpoints: Endpoint[]; errors: string[] }> {
  const errors: string[] = [];
  let entries = source.entries ?? [];
  if (source.file) {
    try {
      const text = await fs.readFile(source.file, 'utf8');
      entries = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l.length > 0);
    } catch (err) {
      return { endpoints: [], errors: [`cannot read ${source.file}: ${(err as Error).message}`] };
    }
  }
  const byKey = new Map<string, Endpoint>();
  for (const entry of entries) {
    const { host, port } = splitHostPort(entry);
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
      errors.push(`not host:port: ${entry}`);
      continue;
    }
    let addresses: string[];
    if (net.isIP(host)) addresses = [host];
    else {
      try {
        addresses = await lookup(host);
      } catch (err) {
        errors.push(`cannot resolve ${host}: ${(err as Error).message}`);
        continue;
      }
    }
    for (const ip of addresses) {
      const address = joinHostPort(ip, port);
      if (!byKey.has(address)) byKey.set(address, { address, serverName: source.serverName ?? host, key: address });
    }
  }
  return { endpoints: [...byKey.values()], errors };
}
