// The control socket of a running `cloud-dev serve`: a unix socket (core's admin socket: one JSON request per
// line, one JSON answer) through which `cloud-dev rotate-cert | drop-connections | revoke-tokens | set | status`
// and tests steer the cloud while an operator is connected. Local only: whoever can reach the socket owns the
// process anyway.
import { parseDuration, startAdminServer, type AdminServer } from '@kestrel/core';
import type { CertificateRotation, RotationResult } from './cert-rotation.js';
import type { CloudControls, ControlsSnapshot } from './controls.js';
import type { CloudDevEvents } from './events.js';
import type { OpenStreams } from './open-streams.js';
import { CALL_REFUSALS, unimplementedRefusal } from './refusals.js';
import { STREAM_NAMES, type StreamName } from './record-store.js';
import type { RequestConsole, RequestKind } from './request-console.js';

export interface ControlDeps {
  controls: CloudControls;
  openStreams: OpenStreams;
  rotation: CertificateRotation;
  events: CloudDevEvents;
  /** Cuts every connection; returns how many. */
  dropConnections(): number;
  requestConsole: RequestConsole;
}

export const STREAM_METHODS: Record<StreamName, string> = {
  data: 'StreamData',
  control: 'StreamControl',
  flows: 'StreamFlows',
  events: 'StreamEvents',
  logs: 'StreamLogs',
};

/** Parses "logs,events" (or "none") into stream names; throws naming what is wrong. */
export function parseStreamList(text: string): StreamName[] {
  if (text.trim() === '' || text.trim() === 'none') return [];
  const names = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of names) {
    if (!(STREAM_NAMES as readonly string[]).includes(name)) throw new Error(`unknown stream "${name}"; expected some of ${STREAM_NAMES.join(', ')} or none`);
  }
  return names as StreamName[];
}

const durationArg = (value: unknown, what: string): number => {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || !(ms > 0)) throw new Error(`${what}: expected a duration such as 30s or 365d (got ${JSON.stringify(value)})`);
  return ms;
};

/** A time as revoke-tokens takes it: seconds since the epoch (number or digits) or an RFC 3339 date; in seconds. */
export function parseIssuedBefore(value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value)) return Math.floor(value);
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value.trim());
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new Error(`issuedBefore: expected seconds since the epoch or an RFC 3339 time such as 2026-01-05T10:00:00Z (got ${JSON.stringify(value)})`);
  return Math.floor(ms / 1000);
}

export function controlHandlers(deps: ControlDeps): Record<string, (args: Record<string, unknown>) => unknown> {
  const { controls, openStreams, events } = deps;
  return {
    'rotate-cert': async (args): Promise<RotationResult[]> =>
      deps.rotation.rotate({
        revokePrevious: args['revokePrevious'] !== false,
        validForMs: args['validFor'] === undefined ? 365 * 86_400_000 : durationArg(args['validFor'], 'validFor'),
        timeoutMs: args['timeout'] === undefined ? 30_000 : durationArg(args['timeout'], 'timeout'),
      }),
    'drop-connections': () => {
      const dropped = deps.dropConnections();
      events.connectionsDropped(dropped);
      return { dropped };
    },
    'revoke-tokens': (args) => {
      // By default every token issued so far (iat counts whole seconds: this second included) is refused on streams;
      // tokens renewed from the next second on are accepted. With issuedBefore, only tokens issued before that time
      // (e.g. an onboarding token, while the renewed ones stay good). A revocation is never narrowed by a later one.
      const before = args['issuedBefore'] === undefined ? Math.floor(Date.now() / 1000) + 1 : parseIssuedBefore(args['issuedBefore']);
      controls.tokensRevokedBefore = Math.max(controls.tokensRevokedBefore ?? 0, before);
      let ended = 0;
      for (const s of openStreams.all()) {
        if (controls.isTokenRevoked(s.tokenIssuedAt)) {
          s.end(CALL_REFUSALS.tokenRevoked);
          ended++;
        }
      }
      events.controlsChanged({ tokensRevokedBefore: controls.tokensRevokedBefore, streamsEnded: ended });
      return { tokensRevokedBefore: controls.tokensRevokedBefore, streamsEnded: ended };
    },
    set: (args): ControlsSnapshot => {
      const change: Record<string, unknown> = {};
      if (args['unimplemented'] !== undefined) {
        const streams = parseStreamList(String(args['unimplemented']));
        controls.unimplemented.clear();
        for (const s of streams) controls.unimplemented.add(s);
        // Open streams of those kinds end as a cloud without the method would answer them.
        for (const s of openStreams.all()) {
          if (controls.unimplemented.has(s.stream)) s.end(unimplementedRefusal(`/cloud.v1.StreamService/${STREAM_METHODS[s.stream]}`));
        }
        change['unimplemented'] = streams;
      }
      if (args['tokenTtl'] !== undefined) {
        const ms = durationArg(args['tokenTtl'], 'tokenTtl');
        if (ms < 1000) throw new Error('tokenTtl: expected at least 1s');
        controls.tokenTtlMs = ms;
        change['tokenTtlMs'] = ms;
      }
      if (args['enforceTokenExpiry'] !== undefined) {
        controls.enforceTokenExpiry = args['enforceTokenExpiry'] === true || args['enforceTokenExpiry'] === 'true';
        change['enforceTokenExpiry'] = controls.enforceTokenExpiry;
      }
      events.controlsChanged(change);
      return controls.snapshot();
    },
    request: (args) => {
      // {kind, body (JSON text or object), timeout}: one request to the operator, its answer back.
      const body = typeof args['body'] === 'string' ? (JSON.parse(args['body']) as Record<string, unknown>) : ((args['body'] as Record<string, unknown> | undefined) ?? {});
      const timeoutMs = args['timeout'] === undefined ? 60_000 : durationArg(args['timeout'], 'timeout');
      return deps.requestConsole.send(String(args['kind']) as RequestKind, body, timeoutMs);
    },
    status: () => ({
      controls: controls.snapshot(),
      openStreams: openStreams.all().map((s) => ({ callId: s.callId, stream: s.stream, clusterId: s.clusterId, certificate: s.certificateFingerprint ?? null, tokenIssuedAt: s.tokenIssuedAt })),
      counts: events.snapshot(),
    }),
  };
}

export function startControlSocket(path: string, deps: ControlDeps): Promise<AdminServer> {
  return startAdminServer(path, controlHandlers(deps));
}
