// The Datadog API and application keys, from one of two places (docs/metrics.md, "Datadog keys"):
//   files  - the chart mounts the Secrets the installer names by reference (datadog.apiKeySecret / appKeySecret:
//            {name, key}) and passes the file paths; re-read on every use, so a rotated Secret is picked up;
//   discovery - with datadogDiscovery on, the Secrets of an in-cluster Datadog installation, read through the API:
//            exactly the names in datadogSecretNames (key api-key, and app-key), then datadogAppKeySecretName
//            (app-key), in datadogNamespace; the chart's Role allows get on just those names. A success is reused
//            for five minutes, a failure is retried on the next use.
// Keys are never settings or chart values themselves, and are held as SecretValue.
import fs from 'node:fs/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { SecretValue } from './secret-value.js';

export interface DatadogKeys {
  apiKey: SecretValue;
  appKey: SecretValue | undefined;
  /** Where they came from, for logs and the debug view (never the values). */
  source: string;
}

export interface KeySourceConfig {
  apiKeyFile: string | undefined;
  appKeyFile: string | undefined;
  discovery: { namespace: string; secretNames: readonly string[]; appKeySecretName: string } | undefined;
}

export class KeyError extends Error {}

/** Reads one Secret's data; undefined when the Secret or the key is absent. */
export type SecretReader = (namespace: string, name: string, key: string) => Promise<string | undefined>;

export function kubeSecretReader(kc: KubeConfig): SecretReader {
  const api = kc.makeApiClient(CoreV1Api);
  return async (namespace, name, key) => {
    try {
      const secret = await api.readNamespacedSecret({ name, namespace });
      const data = secret.data?.[key];
      return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404) return undefined;
      // 403 and the rest: the message names the Secret, never its content.
      throw new KeyError(`reading Secret ${namespace}/${name}: ${code ? `HTTP ${code}` : err instanceof Error ? err.message : String(err)}`);
    }
  };
}

const DISCOVERY_TTL_MS = 5 * 60_000;

export class KeySource {
  private cached: { keys: DatadogKeys; at: number } | undefined;

  constructor(
    private readonly config: KeySourceConfig,
    private readonly readSecret: SecretReader | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The keys, or a KeyError saying why there are none. */
  async load(): Promise<DatadogKeys> {
    if (this.config.apiKeyFile) return this.fromFiles(this.config.apiKeyFile, this.config.appKeyFile);
    if (this.config.discovery && this.readSecret) {
      if (this.cached && this.now() - this.cached.at < DISCOVERY_TTL_MS) return this.cached.keys;
      const keys = await this.discover(this.config.discovery, this.readSecret);
      this.cached = { keys, at: this.now() };
      return keys;
    }
    throw new KeyError('no API key: set datadog.apiKeySecret in the chart (datadogApiKeyFile), or turn on datadog.discovery');
  }

  private async fromFiles(apiFile: string, appFile: string | undefined): Promise<DatadogKeys> {
    const api = await readKeyFile(apiFile, 'datadogApiKeyFile');
    if (!api) throw new KeyError('the API key file (datadogApiKeyFile) is empty');
    const app = appFile ? await readKeyFile(appFile, 'datadogAppKeyFile') : undefined;
    return { apiKey: new SecretValue(api), appKey: app ? new SecretValue(app) : undefined, source: 'files' };
  }

  private async discover(d: NonNullable<KeySourceConfig['discovery']>, read: SecretReader): Promise<DatadogKeys> {
    for (const name of d.secretNames) {
      const api = (await read(d.namespace, name, 'api-key'))?.trim();
      if (!api) continue;
      let app = (await read(d.namespace, name, 'app-key'))?.trim();
      let appFrom = name;
      if (!app && d.appKeySecretName) {
        app = (await read(d.namespace, d.appKeySecretName, 'app-key'))?.trim();
        appFrom = d.appKeySecretName;
      }
      return { apiKey: new SecretValue(api), appKey: app ? new SecretValue(app) : undefined, source: `Secret ${d.namespace}/${name}${app ? ` (app key: ${d.namespace}/${appFrom})` : ''}` };
    }
    throw new KeyError(`no Secret with a non-empty api-key among ${d.secretNames.map((n) => `${d.namespace}/${n}`).join(', ')}`);
  }
}

async function readKeyFile(file: string, setting: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new KeyError(`cannot read ${setting} (${file}): ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}
