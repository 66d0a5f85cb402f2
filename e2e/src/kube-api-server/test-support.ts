// What the tests of the API test server share: real client-node clients for an identity, waiting for a condition,
// and reading the Status out of a client-node ApiException. Not used by the server itself.
import https from 'node:https';
import * as k8s from '@kubernetes/client-node';
import type { KubeApiServer } from './running-server.js';

export interface Clients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  coordination: k8s.CoordinationV1Api;
  custom: k8s.CustomObjectsApi;
  rbac: k8s.RbacAuthorizationV1Api;
  authorization: k8s.AuthorizationV1Api;
  authentication: k8s.AuthenticationV1Api;
  extensions: k8s.ApiextensionsV1Api;
  events: k8s.EventsV1Api;
  objects: k8s.KubernetesObjectApi;
}

export function clientsFor(server: KubeApiServer, token?: string): Clients {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions(server.kubeConfig(token));
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
    authorization: kc.makeApiClient(k8s.AuthorizationV1Api),
    authentication: kc.makeApiClient(k8s.AuthenticationV1Api),
    extensions: kc.makeApiClient(k8s.ApiextensionsV1Api),
    events: kc.makeApiClient(k8s.EventsV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
export const strategicPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);

export interface StatusBody {
  kind: string;
  code: number;
  reason: string;
  message: string;
  details?: { name?: string; kind?: string; group?: string };
}

/** Runs a call expected to fail with an API error; returns the HTTP code and the Status body. */
export async function apiError(call: () => Promise<unknown>): Promise<{ code: number; status: StatusBody }> {
  try {
    await call();
  } catch (err) {
    if (err instanceof k8s.ApiException) {
      const body = typeof err.body === 'string' ? (JSON.parse(err.body) as StatusBody) : (err.body as StatusBody);
      return { code: err.code, status: body };
    }
    throw err;
  }
  throw new Error('expected the call to fail with an API error');
}

export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function pod(name: string, namespace = 'default', options: { node?: string; labels?: Record<string, string> } = {}): k8s.V1Pod {
  return {
    metadata: { name, namespace, ...(options.labels ? { labels: options.labels } : {}) },
    spec: { ...(options.node ? { nodeName: options.node } : {}), containers: [{ name: 'main', image: 'registry.example/app:1' }] },
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTPS request with node:https, for what the typed client cannot send (no token, a bad token, raw paths). */
export function rawRequest(server: KubeApiServer, method: string, path: string, options: { token?: string | null; body?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const url = new URL(path, server.url);
  const token = options.token === undefined ? server.adminToken : options.token;
  const headers: Record<string, string> = { Accept: 'application/json', ...(options.headers ?? {}) };
  if (token !== null) headers['Authorization'] = `Bearer ${token}`;
  if (options.body !== undefined) headers['Content-Type'] ??= 'application/json';
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca: server.caPem, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
