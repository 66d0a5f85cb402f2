// Keeps the cluster token valid without a human: renews it through server.v1 RenewClusterToken well before it
// expires, at a random point between renewMinFraction and renewMaxFraction of its own lifetime (iat to exp; by
// default 50-70%, so a day-long token is renewed after 12 to 17 hours and replicas do not renew together), retrying
// with jittered backoff when the cloud cannot be reached. A renewed token is used by new streams at once (the
// uplink recycles its streams so none outlives its token), and written back (credential-writers.ts) so a restart
// uses it.
//
// At start the token is the onboarding token file's or, when newer and still valid, the one stored in the runtime
// Secret and mounted back (runtimeTokenFile; runtime-credentials.ts says which and why, in one log line). Both files
// are also watched: a token put there by a human, by the kubelet syncing a Secret, or by another replica's renewal
// is used when it is newer (by iat) than the one in memory. When the cloud rejects the token (UNAUTHENTICATED), the
// files are checked and a renewal is tried at once; an expired token cannot be renewed (the cloud refuses it), which
// is reported as such and retried slowly, so a token replaced by hand is picked up.
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import { Backoff, type Logger } from '@kestrel/core';
import type { TokenWriter } from './credential-writers.js';
import type { UplinkEvents } from './events.js';
import { chooseClusterToken, logCredentialChoice } from './runtime-credentials.js';
import { decodeClusterToken, isNewer, type ClusterToken } from './token.js';

function stampOf(file: string): string {
  const st = fs.statSync(file);
  return `${st.mtimeMs}:${st.size}:${st.ino}`;
}

function stampOrMissing(file: string): string {
  try {
    return stampOf(file);
  } catch {
    return 'missing';
  }
}

export interface TokenSettings {
  /** The onboarding token (mounted onboarding Secret, or a file for local runs). */
  tokenFile: string;
  /** The token the aggregator stored in the runtime Secret, mounted back; undefined: none configured. */
  runtimeTokenFile?: string | undefined;
  /** Renew at a random point in [min, max] of the token's lifetime (fractions, 0 < min <= max < 1). */
  renewMinFraction: number;
  renewMaxFraction: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Renewal period for a token without iat/exp (the published operator renews every 3 h). */
  fallbackPeriodMs: number;
}

export interface TokenRenewer {
  renew(current: ClusterToken): Promise<{ accessToken: string; expiresIn: number }>;
}

export interface TokenKeeperEvents {
  renewed: [ClusterToken];
}

/** When to renew a token: a point in [min, max] of its lifetime, or now if that is past. */
export function renewalTime(token: ClusterToken, settings: Pick<TokenSettings, 'renewMinFraction' | 'renewMaxFraction' | 'fallbackPeriodMs'>, now: number, random = Math.random()): Date {
  const fraction = settings.renewMinFraction + random * (settings.renewMaxFraction - settings.renewMinFraction);
  const exp = token.expiresAt?.getTime();
  const iat = token.issuedAt?.getTime();
  let at: number;
  if (exp !== undefined && iat !== undefined && exp > iat) at = iat + (exp - iat) * fraction;
  else if (exp !== undefined) at = now + Math.max(0, exp - now) * fraction;
  else at = now + settings.fallbackPeriodMs * fraction;
  return new Date(Math.max(now, at));
}

export class TokenKeeper extends EventEmitter<TokenKeeperEvents> {
  private token: ClusterToken;
  /** Per token file: what it looked like when last read (mtime, size, inode), or 'missing'. */
  private readonly fileStamps = new Map<string, string>();
  private wake: (() => void) | undefined;
  private requested: string | undefined;
  private waiters: (() => void)[] = [];
  nextRenewalAt: Date;
  lastRenewalAt: Date | undefined;
  lastError: string | undefined;
  renewals = 0;

  constructor(
    private readonly settings: TokenSettings,
    private readonly renewer: TokenRenewer,
    private readonly writers: readonly TokenWriter[],
    private readonly events: UplinkEvents,
    private readonly logger: Logger,
  ) {
    super();
    // Throws (naming the file and the problem) when there is no usable token at start.
    const choice = chooseClusterToken(settings.tokenFile, settings.runtimeTokenFile);
    this.token = choice.token;
    for (const file of this.files) this.fileStamps.set(file, stampOrMissing(file));
    this.nextRenewalAt = renewalTime(this.token, settings, Date.now());
    logCredentialChoice(logger, 'token', choice, { issuedAt: this.token.issuedAt?.toISOString(), expiresAt: this.token.expiresAt?.toISOString(), nextRenewalAt: this.nextRenewalAt.toISOString() });
  }

  private get files(): string[] {
    return this.settings.runtimeTokenFile === undefined ? [this.settings.tokenFile] : [this.settings.tokenFile, this.settings.runtimeTokenFile];
  }

  /** The token to use now (a newer one from a token file wins). */
  get current(): ClusterToken {
    let newest: { token: ClusterToken; file: string } | undefined;
    for (const file of this.files) {
      const fromFile = this.readFile(file);
      if (fromFile && fromFile.jwt !== this.token.jwt && isNewer(fromFile, newest?.token ?? this.token)) newest = { token: fromFile, file };
    }
    if (newest) this.adopt(newest.token, newest.file === this.settings.tokenFile ? 'the token file holds a newer token' : "the runtime Secret's token file holds a newer token");
    return this.token;
  }

  /** Renews in the background until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: this.settings.retryInitialMs, maxMs: this.settings.retryMaxMs });
    while (!signal.aborted) {
      const waitMs = this.requested !== undefined ? 0 : this.nextRenewalAt.getTime() - Date.now();
      if (waitMs > 0) await this.sleep(waitMs, signal);
      if (signal.aborted) break;
      if (this.requested === undefined && Date.now() < this.nextRenewalAt.getTime()) continue; // woken early, nothing asked
      const reason = this.requested ?? 'scheduled';
      const current = this.current;
      try {
        const response = await this.renewer.renew(current);
        const next = decodeClusterToken(response.accessToken);
        this.requested = undefined;
        this.renewals++;
        this.lastRenewalAt = new Date();
        this.lastError = undefined;
        backoff.reset();
        this.adopt(next, undefined);
        this.events.tokenRenewed(next.expiresAt, this.nextRenewalAt);
        this.logger.debug('renewal reason', { reason });
        await this.persist(next);
        for (const w of this.waiters.splice(0)) w();
        this.emit('renewed', next);
      } catch (err) {
        if (signal.aborted) break;
        this.lastError = err instanceof Error ? err.message : String(err);
        const delay = backoff.next();
        const expired = current.expiresAt !== undefined && current.expiresAt.getTime() <= Date.now();
        this.events.tokenRenewalFailed(this.lastError, backoff.attempts, Math.round(delay), expired);
        await this.sleep(delay, signal);
      }
    }
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * The cloud rejected the token on a stream: use a newer token from the file if there is one, else renew now.
   * Waits for the renewal at most waitMs (the stream reconnects either way).
   */
  async rejected(details: string, waitMs: number): Promise<void> {
    const before = this.token.jwt;
    if (this.current.jwt !== before) return;
    await this.renewNow(`the cloud rejected the token: ${details}`, waitMs);
  }

  /** Asks for a renewal now; resolves when it succeeded or after waitMs. */
  renewNow(reason: string, waitMs: number): Promise<void> {
    this.requested ??= reason;
    this.wake?.();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  private adopt(token: ClusterToken, fromFileReason: string | undefined): void {
    this.token = token;
    this.nextRenewalAt = renewalTime(token, this.settings, Date.now());
    if (fromFileReason) {
      this.events.tokenFromFile(fromFileReason);
      this.emit('renewed', token);
    }
  }

  private async persist(token: ClusterToken): Promise<void> {
    for (const writer of this.writers) {
      try {
        await writer.write(token.jwt);
        this.events.credentialWritten('token', writer.target);
      } catch (err) {
        this.events.credentialWriteFailed('token', writer.target, err instanceof Error ? err.message : String(err));
      }
    }
    // What we wrote is now what the files say (a Secret's mounted copy only later): not a reason to adopt it again.
    for (const file of this.files) this.readFile(file);
  }

  /** Reads a token file when it changed since the last read; undefined when unchanged or unusable. */
  private readFile(file: string): ClusterToken | undefined {
    const runtime = file !== this.settings.tokenFile;
    let stamp: string;
    try {
      stamp = stampOf(file);
    } catch (err) {
      // The runtime Secret has no token until the first renewal is stored (and the kubelet shows it): not a problem.
      if (this.fileStamps.get(file) !== 'missing' && !runtime) this.logger.warn('cannot read the cluster token file; using the token in memory', { file, error: String(err) });
      this.fileStamps.set(file, 'missing');
      return undefined;
    }
    if (stamp === this.fileStamps.get(file)) return undefined;
    this.fileStamps.set(file, stamp);
    try {
      return decodeClusterToken(fs.readFileSync(file, 'utf8').trim());
    } catch (err) {
      this.logger.warn('the cluster token file does not hold a usable token; using the token in memory', { file, error: String(err) });
      return undefined;
    }
  }

  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      // setTimeout's limit is about 24.8 days; longer waits simply wake up and wait again.
      const timer = setTimeout(finish, Math.min(ms, 2 ** 31 - 1));
      function finish() {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        resolve();
      }
      this.wake = finish;
      signal.addEventListener('abort', finish, { once: true });
    });
  }
}
