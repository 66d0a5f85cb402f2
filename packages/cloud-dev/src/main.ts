#!/usr/bin/env node
// cloud-dev: a reference Kestrel Cloud for local runs, the demo and e2e tests. `init` makes the credentials,
// `serve` runs the cloud. Settings come from flags or CLOUD_DEV_* environment variables; a bad one stops the
// command with one line naming it (exit 2).
import { exitOnConfigError, loadConfig, tuneGarbageCollection } from '@kestrel/core';
import { runControlCommand } from './control-cli.js';
import { initConfigSchema, InitRefused, runInit } from './init.js';
import { ENV_PREFIX, runServe, serveConfigSchema } from './serve.js';

const USAGE = `usage: cloud-dev <command> [flags]

commands:
  init DIR [--tenant dev-tenant] [--cluster-name dev] [--token-ttl 24h] [--hosts localhost,127.0.0.1] [--force]
      Creates the cloud CA, server and operator certificates, the token signing key and an onboarding token:
        DIR/operator/{tls.crt,tls.key,ca.crt,token}   what the operator mounts
        DIR/server/{tls.crt,tls.key,ca.crt}           the cloud's TLS identity
        DIR/jwt/{signing.key,signing.pub}             the token signing key pair (ES256)
        DIR/ca/{ca.crt,ca.key}                        the cloud CA
        DIR/cloud-dev.json                            tenant, cluster name and id
      Refuses a DIR that already holds material unless --force.

  serve --dir DIR [--listen 127.0.0.1:8443] [--data-dir DIR/data] [--heartbeat-interval 30s] [--token-ttl 24h]
        [--summary-interval 30s] [--log-level info]
        [--unimplemented logs,events] [--enforce-token-expiry] [--control-socket DIR/control.sock]
      Serves cloud.v1.StreamService and server.v1.AutonpServerService over mTLS. Every received message is
      appended to DATA/<stream>.jsonl (PodLogs entries already stored are dropped as replays and counted);
      DATA/summary.json has the counts. Prints {"msg":"listening","address":"HOST:PORT",...} once bound (port 0
      picks a free port). --unimplemented answers those streams with UNIMPLEMENTED; --enforce-token-expiry ends an
      open stream with UNAUTHENTICATED when its token expires.

Controls for a running serve (through its control socket; --dir DIR or --control-socket PATH finds it):
  rotate-cert [--revoke-previous true] [--valid-for 365d] [--timeout 30s]
      Issues a new client certificate from the CA, pushes a CertificateRenewalRequest to every connected operator
      (control stream, else data stream), waits for its CertificateRenewalResponse and prints it. With
      --revoke-previous (the default) the certificates in use before are refused afterwards.
  drop-connections        cuts every connection at once, without GOAWAY or status
  revoke-tokens [--issued-before TIME]
      Every token issued so far (with --issued-before: issued before TIME, seconds since the epoch or RFC 3339) is
      refused on streams (open ones end with UNAUTHENTICATED "bearer token revoked"); RenewClusterToken still
      accepts them.
  set [--unimplemented logs,events|none] [--token-ttl 10s] [--enforce-token-expiry true|false]
  status                  the controls, the open streams and the counts
  request --kind KIND [--body JSON] [--timeout 60s]
      Sends the operator a request as Kestrel Cloud's agents do (KIND: kubernetesApiRequest, shellCommandRequest,
      yamlDryRunRequest, yamlApplyRequest, operatorRestartRequest, metricsQueryRequest, datadogQueryRequest; BODY:
      the request's fields in JSON, request_id is added) and prints its answer as JSON, e.g.
      request --kind kubernetesApiRequest --body '{"apiPaths":["/api/v1/namespaces"]}'

Every flag can also be set as an environment variable: CLOUD_DEV_ + the flag in upper snake case
(e.g. CLOUD_DEV_HEARTBEAT_INTERVAL=5s).
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (command) {
    case 'init': {
      // `init DIR` reads better than `init --dir DIR`; both work.
      const args = rest[0] !== undefined && !rest[0].startsWith('--') ? ['--dir', rest[0], ...rest.slice(1)] : [...rest];
      const config = loadConfig(initConfigSchema, { envPrefix: ENV_PREFIX, argv: withBareBooleans(args, ['--force']) });
      try {
        const result = await runInit(config);
        process.stdout.write(JSON.stringify({ msg: 'initialized', ...result }) + '\n');
        return 0;
      } catch (err) {
        if (err instanceof InitRefused) {
          process.stderr.write(`cloud-dev init: ${err.message}\n`);
          return 1;
        }
        throw err;
      }
    }
    case 'rotate-cert':
    case 'drop-connections':
    case 'revoke-tokens':
    case 'set':
    case 'status':
    case 'request':
      return runControlCommand(command, withBareBooleans(rest, ['--revoke-previous', '--enforce-token-expiry']));
    case 'serve': {
      tuneGarbageCollection(); // as the operator's processes do (packages/core/src/gc-tuning.ts)
      const config = loadConfig(serveConfigSchema, { envPrefix: ENV_PREFIX, argv: withBareBooleans(rest, ['--enforce-token-expiry']) });
      await runServe(config);
      return 0;
    }
    default:
      process.stderr.write(`cloud-dev: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

/** Lets a boolean flag stand alone (`--force`) as well as take a value (`--force true`). */
function withBareBooleans(args: readonly string[], flags: readonly string[]): string[] {
  return args.flatMap((arg, i) => {
    const next = args[i + 1];
    return flags.includes(arg) && (next === undefined || next.startsWith('--')) ? [`${arg}=true`] : [arg];
  });
}

const code = await exitOnConfigError(() => main(process.argv.slice(2)));
process.exit(code);
