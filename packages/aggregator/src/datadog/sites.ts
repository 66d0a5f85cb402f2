// Where Datadog API calls go. The published operator builds https://api.<site> from a site it may read, unchecked,
// from the Datadog workloads' environment; here the site is a setting and must be one of Datadog's own sites, so a
// changed value cannot send the customer's keys elsewhere. A base URL override (datadogApiUrl) exists for tests and
// air-gapped proxies: HTTPS to any host (optionally with its own CA), plain HTTP only to a loopback address.

/** Datadog's sites (https://docs.datadoghq.com/getting_started/site/). */
export const KNOWN_SITES = ['datadoghq.com', 'us3.datadoghq.com', 'us5.datadoghq.com', 'datadoghq.eu', 'ap1.datadoghq.com', 'ap2.datadoghq.com', 'ddog-gov.com'] as const;

/** The problem with a site, or undefined when it is a known one. */
export function siteProblem(site: string): string | undefined {
  return (KNOWN_SITES as readonly string[]).includes(site) ? undefined : `not a known Datadog site (known: ${KNOWN_SITES.join(', ')})`;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The problem with an API base URL override, or undefined when it may be used. */
export function apiUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL';
  }
  if (url.username || url.password) return 'must not carry credentials';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return LOOPBACK.has(url.hostname) || /^127\./.test(url.hostname) ? undefined : 'plain http is allowed only to a loopback address (use https)';
  return 'expected an https:// URL';
}

/** The base URL of API calls: the override, else https://api.<site>. */
export function apiBase(site: string, override: string | undefined): URL {
  return new URL(override ?? `https://api.${site}`);
}
