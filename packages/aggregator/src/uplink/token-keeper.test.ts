import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createLogger, createRegistry } from '@kestrel/core';
import type { TokenWriter } from './credential-writers.js';
import { UplinkEvents } from './events.js';
import { decodeClusterToken } from './token.js';
import { renewalTime, TokenKeeper, type TokenSettings } from './token-keeper.js';

const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
const seconds = (ms: number) => Math.floor(ms / 1000);

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'token-keeper-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const settings = (tokenFile: string): TokenSettings => ({ tokenFile, renewMinFraction: 0.5, renewMaxFraction: 0.7, retryInitialMs: 10, retryMaxMs: 50, fallbackPeriodMs: 3 * 3_600_000 });

function quietEvents(): { events: UplinkEvents; logger: ReturnType<typeof createLogger> } {
  const logger = createLogger('test', 'error');
  logger.silent = true;
  return { events: new UplinkEvents(createRegistry('test', false), logger), logger };
}

test('renewal is due between 50 % and 70 % of the token\'s own lifetime, or now when that is past', () => {
  const now = Date.UTC(2026, 0, 1);
  const token = decodeClusterToken(jwt({ tenant: 't', iat: seconds(now), exp: seconds(now) + 86_400 }));
  const s = { renewMinFraction: 0.5, renewMaxFraction: 0.7, fallbackPeriodMs: 3 * 3_600_000 };
  assert.equal(renewalTime(token, s, now, 0).getTime(), now + 12 * 3_600_000);
  assert.equal(renewalTime(token, s, now, 1).getTime(), now + Math.round(86_400_000 * 0.7));
  const late = now + 20 * 3_600_000;
  assert.equal(renewalTime(token, s, late, 0.5).getTime(), late, 'past the point: renew now');
  const noIat = decodeClusterToken(jwt({ tenant: 't', exp: seconds(now) + 1000 }));
  assert.equal(renewalTime(noIat, s, now, 0).getTime(), now + 500_000, 'without iat: from now to exp');
});

test('renews a token that is due, uses the new one, schedules the next renewal and writes it back', async () => {
  const file = path.join(dir, 'due');
  const now = Date.now();
  fs.writeFileSync(file, jwt({ tenant: 'acme', iat: seconds(now) - 80, exp: seconds(now) + 20 }));
  const fresh = jwt({ tenant: 'acme', iat: seconds(now), exp: seconds(now) + 100 });
  const written: string[] = [];
  const writer: TokenWriter = { target: 'memory', write: async (t) => void written.push(t) };
  const { events, logger } = quietEvents();
  const keeper = new TokenKeeper(settings(file), { renew: async () => ({ accessToken: fresh, expiresIn: 100 }) }, [writer], events, logger);
  const renewed = new Promise((resolve) => keeper.once('renewed', resolve));
  const stop = new AbortController();
  const running = keeper.run(stop.signal);
  await renewed;
  await new Promise((r) => setImmediate(r));
  stop.abort();
  await running;
  assert.equal(keeper.current.jwt, fresh);
  assert.deepEqual(written, [fresh]);
  const next = keeper.nextRenewalAt.getTime();
  assert.ok(next >= seconds(now) * 1000 + 50_000 && next <= seconds(now) * 1000 + 70_000, `next renewal ${new Date(next).toISOString()}`);
});

test('a failing renewal is retried with backoff until it succeeds', async () => {
  const file = path.join(dir, 'retry');
  const now = Date.now();
  fs.writeFileSync(file, jwt({ tenant: 'acme', iat: seconds(now) - 90, exp: seconds(now) + 10 }));
  let calls = 0;
  const { events, logger } = quietEvents();
  const keeper = new TokenKeeper(
    settings(file),
    {
      renew: async () => {
        calls++;
        if (calls < 3) throw new Error('UNAVAILABLE: cloud unreachable');
        return { accessToken: jwt({ tenant: 'acme', iat: seconds(now), exp: seconds(now) + 100 }), expiresIn: 100 };
      },
    },
    [],
    events,
    logger,
  );
  const renewed = new Promise((resolve) => keeper.once('renewed', resolve));
  const stop = new AbortController();
  const running = keeper.run(stop.signal);
  await renewed;
  stop.abort();
  await running;
  assert.equal(calls, 3);
  assert.equal(keeper.lastError, undefined);
});

test('a newer token put in the token file is used; an older one is not', () => {
  const file = path.join(dir, 'file');
  const now = Date.now();
  const first = jwt({ tenant: 'acme', iat: seconds(now) - 10, exp: seconds(now) + 3600 });
  fs.writeFileSync(file, first);
  const { events, logger } = quietEvents();
  const keeper = new TokenKeeper(settings(file), { renew: async () => assert.fail('no renewal expected') }, [], events, logger);
  const older = jwt({ tenant: 'acme', iat: seconds(now) - 100, exp: seconds(now) + 3600 });
  fs.writeFileSync(file, older + '\n\n');
  assert.equal(keeper.current.jwt, first);
  const newer = jwt({ tenant: 'acme', iat: seconds(now), exp: seconds(now) + 7200 });
  fs.writeFileSync(file, newer + '\n');
  assert.equal(keeper.current.jwt, newer);
});

test('a rejected token triggers a renewal at once, not at its scheduled time', async () => {
  const file = path.join(dir, 'rejected');
  const now = Date.now();
  fs.writeFileSync(file, jwt({ tenant: 'acme', iat: seconds(now), exp: seconds(now) + 3600 }));
  const fresh = jwt({ tenant: 'acme', iat: seconds(now) + 1, exp: seconds(now) + 3600 });
  const { events, logger } = quietEvents();
  const keeper = new TokenKeeper(settings(file), { renew: async () => ({ accessToken: fresh, expiresIn: 3600 }) }, [], events, logger);
  const stop = new AbortController();
  const running = keeper.run(stop.signal);
  await keeper.rejected('bearer token revoked', 5000);
  stop.abort();
  await running;
  assert.equal(keeper.current.jwt, fresh);
  assert.equal(keeper.renewals, 1);
});
