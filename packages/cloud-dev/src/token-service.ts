// server.v1.AutonpServerService: onboarding and token renewal.
//
// OnboardCluster is authenticated like a stream (client certificate, Bearer token, tenant metadata): the
// onboarding credential is the token `cloud-dev init` wrote to operator/token. It answers with a fresh token for
// the tenant and cluster chosen at init. RenewClusterToken verifies the token in the request (see
// CallAuthenticator.authenticateRenewal) and answers with a new one for the same tenant and cluster.
import type * as grpc from '@grpc/grpc-js';
import type { KeyObject } from 'node:crypto';
import type { AutonpServerServiceDefinition, OnboardClusterRequest, OnboardClusterResponse, RenewClusterTokenRequest, RenewClusterTokenResponse } from '@kestrel/proto/server/v1';
import { CallRefused, type CallAuthenticator } from './call-auth.js';
import type { CloudControls } from './controls.js';
import type { CloudDevEvents } from './events.js';
import { unaryCall, type CallContext } from './grpc-handlers.js';
import type { CloudIdentity } from './layout.js';
import { signToken } from './tokens.js';

export interface TokenServiceDeps {
  auth: CallAuthenticator;
  events: CloudDevEvents;
  identity: CloudIdentity;
  signingKey: KeyObject;
  /** tokenTtlMs is read on every call: `cloud-dev set --token-ttl` changes it at runtime. */
  controls: CloudControls;
}

export function tokenServiceImplementation(deps: TokenServiceDeps): grpc.UntypedServiceImplementation {
  const hooks = { onUnexpected: (err: unknown) => deps.events.unexpected(err, { service: 'AutonpServerService' }) };
  const implementation = {
    onboardCluster: unaryCall(
      (request: OnboardClusterRequest, context) => onboardCluster(deps, request, context),
      hooks,
    ),
    renewClusterToken: unaryCall(
      (request: RenewClusterTokenRequest, context) => renewClusterToken(deps, request, context),
      hooks,
    ),
  } satisfies Record<keyof AutonpServerServiceDefinition['methods'], unknown>;
  return implementation;
}

async function onboardCluster(deps: TokenServiceDeps, request: OnboardClusterRequest, context: CallContext): Promise<OnboardClusterResponse> {
  await refusalsCounted(deps, 'OnboardCluster', context, () => deps.auth.authenticate(context));
  const { tenant, clusterId, clusterName } = deps.identity;
  const ttlMs = deps.controls.tokenTtlMs;
  const accessToken = await signToken(deps.signingKey, { tenant, sub: clusterId }, ttlMs);
  const expiresIn = Math.floor(ttlMs / 1000);
  deps.events.tokenIssued('onboarding', clusterId, expiresIn);
  return { accessToken, clusterId, clusterName: request.clusterName || clusterName, expiresIn, tokenType: 'Bearer' };
}

async function renewClusterToken(deps: TokenServiceDeps, request: RenewClusterTokenRequest, context: CallContext): Promise<RenewClusterTokenResponse> {
  const claims = await refusalsCounted(deps, 'RenewClusterToken', context, () =>
    deps.auth.authenticateRenewal(request.currentToken, context),
  );
  // A revoked token (cloud-dev revoke-tokens) is still renewed: revocation asks the operator to renew.
  const ttlMs = deps.controls.tokenTtlMs;
  const accessToken = await signToken(deps.signingKey, { tenant: claims.tenant, sub: claims.sub }, ttlMs);
  const expiresIn = Math.floor(ttlMs / 1000);
  deps.events.tokenIssued('renewal', claims.sub, expiresIn);
  return { accessToken, expiresIn, tokenType: 'Bearer' };
}

async function refusalsCounted<T>(deps: TokenServiceDeps, method: string, context: CallContext, check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (err) {
    if (err instanceof CallRefused) deps.events.refused(err.refusal, { method, peer: context.peer });
    throw err;
  }
}
