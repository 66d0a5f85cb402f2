// The Kubernetes API test server as its own process, for other processes (aggregator, agent, kubectl) to talk to:
//   node e2e/dist/kube-api-server/main.js --listen 127.0.0.1:0 --state-dir D
// prints one JSON line {"msg":"listening","address":"https://127.0.0.1:PORT","kubeconfig":"D/kubeconfig",...}
// once it serves; the kubeconfig holds an admin (system:masters) token. Test hooks are under /kestrel-test/.
// SIGTERM or SIGINT stops it.
import { parseArgs } from 'node:util';
import { startKubeApiServer, type StartOptions } from './running-server.js';

function fail(message: string): never {
  process.stdout.write(`${JSON.stringify({ level: 'error', msg: 'invalid arguments', error: message })}\n`);
  process.exit(2);
}

function integer(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) fail(`--${name} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

async function main(): Promise<void> {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      options: {
        listen: { type: 'string', default: '127.0.0.1:0' },
        'state-dir': { type: 'string' },
        'history-limit': { type: 'string' },
        'bookmark-interval-ms': { type: 'string' },
        'watch-timeout-seconds': { type: 'string' },
      },
      strict: true,
    }).values as Record<string, string | undefined>;
  } catch (err) {
    fail((err as Error).message);
  }
  const listen = /^(.*):(\d+)$/.exec(values['listen'] ?? '');
  if (!listen) fail(`--listen must be HOST:PORT, got "${values['listen']}"`);
  if (!values['state-dir']) fail('--state-dir is required');
  const options: StartOptions = { host: listen[1]!.replace(/^\[|\]$/g, ''), port: Number(listen[2]), stateDir: values['state-dir'] };
  const historyLimit = integer('history-limit', values['history-limit']);
  const bookmarkIntervalMs = integer('bookmark-interval-ms', values['bookmark-interval-ms']);
  const watchTimeoutSeconds = integer('watch-timeout-seconds', values['watch-timeout-seconds']);
  if (historyLimit !== undefined) options.historyLimit = historyLimit;
  if (bookmarkIntervalMs !== undefined) options.bookmarkIntervalMs = bookmarkIntervalMs;
  if (watchTimeoutSeconds !== undefined) options.watchTimeoutSeconds = watchTimeoutSeconds;

  const server = await startKubeApiServer(options);
  process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'listening', address: server.url, kubeconfig: server.kubeconfigPath, caFile: server.caFile })}\n`);
  const stop = (signal: string) => {
    void server.stop().then(() => {
      process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'stopped', signal })}\n`);
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

void main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ level: 'error', msg: 'failed to start', error: (err as Error).message })}\n`);
  process.exit(1);
});
