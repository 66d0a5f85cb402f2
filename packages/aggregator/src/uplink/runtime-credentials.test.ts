import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger, createRegistry, TlsFileError, type Logger } from '@kestrel/core';
import { CloudCertificateFiles } from './cloud-certificate-files.js';
import { UplinkEvents } from './events.js';
import { chooseClusterToken, chooseCloudCertificate, logCredentialChoice, runtimeCertificatePaths, type CredentialChoice } from './runtime-credentials.js';
import { TokenKeeper } from './token-keeper.js';

const fixture = (name: string) => fs.readFileSync(new URL(`../../src/uplink/testdata/${name}`, import.meta.url));
const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
const seconds = (ms: number) => Math.floor(ms / 1000);

let dir: string;
let n = 0;
/** A fresh folder for one case. */
const folder = () => {
  const d = path.join(dir, `case-${++n}`);
  fs.mkdirSync(d);
  return d;
};
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runtime-credentials-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the token a start uses', () => {
  const now = Date.now();
  const onboarding = jwt({ tenant: 'acme', iat: seconds(now) - 3600, exp: seconds(now) + 82_800 });
  const renewed = jwt({ tenant: 'acme', iat: seconds(now) - 60, exp: seconds(now) + 86_340 });
  /** The onboarding Secret's folder and the runtime Secret's, with these tokens (undefined: no file). */
  const setup = (onboardingToken: string | undefined, runtimeToken: string | undefined) => {
    const d = folder();
    fs.mkdirSync(path.join(d, 'cloud'));
    fs.mkdirSync(path.join(d, 'cloud-runtime'));
    const files = { onboarding: path.join(d, 'cloud/token'), runtime: path.join(d, 'cloud-runtime/token') };
    if (onboardingToken !== undefined) fs.writeFileSync(files.onboarding, onboardingToken + '\n');
    if (runtimeToken !== undefined) fs.writeFileSync(files.runtime, runtimeToken);
    return files;
  };

  test('a stored token newer than the onboarding one and still valid is used', () => {
    const files = setup(onboarding, renewed);
    const choice = chooseClusterToken(files.onboarding, files.runtime, now);
    assert.equal(choice.source, 'runtime');
    assert.equal(choice.token.jwt, renewed);
    assert.equal(choice.file, files.runtime);
    assert.match(choice.reason, /^issued .*, after the onboarding token \(issued .*\), and valid until /);
    assert.equal(choice.runtimeUnusable, false);
  });

  test('a stored token older than the onboarding one is passed over (the cluster was onboarded again)', () => {
    const reonboarded = jwt({ tenant: 'acme', iat: seconds(now) - 10, exp: seconds(now) + 86_390 });
    const files = setup(reonboarded, renewed);
    const choice = chooseClusterToken(files.onboarding, files.runtime, now);
    assert.equal(choice.source, 'onboarding');
    assert.equal(choice.token.jwt, reonboarded);
    assert.match(choice.reason, /is not newer than the onboarding token/);
    assert.equal(choice.runtimeUnusable, false, 'nothing wrong with it: just older');
  });

  test('an expired stored token is passed over, with a warning', () => {
    const expired = jwt({ tenant: 'acme', iat: seconds(now) - 600, exp: seconds(now) - 10 });
    const files = setup(onboarding, expired);
    const choice = chooseClusterToken(files.onboarding, files.runtime, now);
    assert.equal(choice.source, 'onboarding');
    assert.match(choice.reason, /the runtime Secret's token expired at/);
    assert.equal(choice.runtimeUnusable, true);
  });

  test('a corrupt stored token is passed over, with a warning', () => {
    for (const corrupt of ['not a jwt', jwt({ iat: seconds(now), exp: seconds(now) + 100 }), 'a.%%%.c']) {
      const files = setup(onboarding, corrupt);
      const choice = chooseClusterToken(files.onboarding, files.runtime, now);
      assert.equal(choice.source, 'onboarding', corrupt);
      assert.match(choice.reason, /the runtime Secret's token cannot be used: cluster token (is not a JWT|has no tenant claim|payload is not JSON)/);
      assert.equal(choice.runtimeUnusable, true);
    }
  });

  test('no stored token yet (the first start) or no runtime folder configured: the onboarding token', () => {
    for (const runtime of [undefined, '', '\n']) {
      const files = setup(onboarding, runtime);
      const choice = chooseClusterToken(files.onboarding, files.runtime, now);
      assert.equal(choice.source, 'onboarding');
      assert.match(choice.reason, /the runtime Secret holds no token yet/);
      assert.equal(choice.runtimeUnusable, false);
    }
    const files = setup(onboarding, renewed);
    const choice = chooseClusterToken(files.onboarding, undefined, now);
    assert.equal(choice.source, 'onboarding');
    assert.match(choice.reason, /no runtime Secret folder is configured \(cloudRuntimeDir\)/);
  });

  test('an unreadable onboarding token does not stop a start with a usable stored one; with neither, the error names the files', () => {
    const files = setup(undefined, renewed);
    const choice = chooseClusterToken(files.onboarding, files.runtime, now);
    assert.equal(choice.source, 'runtime');
    assert.match(choice.reason, /the onboarding token cannot be used \(cannot read cluster token .*cloud\/token: ENOENT\)/);
    const none = setup(undefined, 'garbage');
    assert.throws(() => chooseClusterToken(none.onboarding, none.runtime, now), /cannot read cluster token .*cloud\/token: ENOENT; and no usable token in the runtime Secret: .*not a JWT/);
    assert.throws(() => chooseClusterToken(none.onboarding, undefined, now), /^Error: cannot read cluster token .*: ENOENT$/);
  });

  test('TokenKeeper starts with the chosen token and follows both files for a newer one', async () => {
    const files = setup(onboarding, renewed);
    const logger = createLogger('test', 'error');
    logger.silent = true;
    const keeper = new TokenKeeper(
      { tokenFile: files.onboarding, runtimeTokenFile: files.runtime, renewMinFraction: 0.5, renewMaxFraction: 0.7, retryInitialMs: 10, retryMaxMs: 50, fallbackPeriodMs: 3_600_000 },
      { renew: async () => assert.fail('no renewal expected') },
      [],
      new UplinkEvents(createRegistry('test', false), logger),
      logger,
    );
    assert.equal(keeper.current.jwt, renewed);
    // Another replica's renewal, shown by the kubelet in the runtime Secret's folder.
    const other = jwt({ tenant: 'acme', iat: seconds(now) - 30, exp: seconds(now) + 86_370 });
    fs.writeFileSync(files.runtime + '.new', other);
    fs.renameSync(files.runtime + '.new', files.runtime);
    const adopted = new Promise((resolve) => keeper.once('renewed', resolve));
    assert.equal(keeper.current.jwt, other);
    await adopted;
    // The cluster onboarded again: a newer token in the onboarding Secret wins as well.
    const reonboarded = jwt({ tenant: 'acme', iat: seconds(now), exp: seconds(now) + 86_400 });
    fs.writeFileSync(files.onboarding + '.new', reonboarded);
    fs.renameSync(files.onboarding + '.new', files.onboarding);
    assert.equal(keeper.current.jwt, reonboarded);
    // An older one showing up later changes nothing.
    fs.writeFileSync(files.runtime + '.new', renewed);
    fs.renameSync(files.runtime + '.new', files.runtime);
    assert.equal(keeper.current.jwt, reonboarded);
  });
});

describe('the client certificate a start uses', () => {
  // client.crt is valid from 2026-11-25, newer.crt from 2026-11-26; both until 2044-2045. expired.crt: 2020-2021.
  const now = Date.UTC(2027, 5, 1);
  const put = (d: string, files: Partial<Record<'tls.crt' | 'tls.key' | 'ca.crt', Buffer | string>>) => {
    fs.mkdirSync(d, { recursive: true });
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(d, name), content);
  };
  const pair = (cert: string, key: string) => ({ 'tls.crt': fixture(`${cert}.crt`), 'tls.key': fixture(`${key}.key`), 'ca.crt': fixture('ca.crt') });
  /** Onboarding files (cloud/) and runtime files (cloud-runtime/) for one case. */
  const setup = (onboarding: Parameters<typeof put>[1], runtime: Parameters<typeof put>[1]) => {
    const d = folder();
    put(path.join(d, 'cloud'), onboarding);
    put(path.join(d, 'cloud-runtime'), runtime);
    return { onboarding: runtimeCertificatePaths(path.join(d, 'cloud')), runtime: runtimeCertificatePaths(path.join(d, 'cloud-runtime')) };
  };

  test('a stored certificate issued after the onboarding one, valid and matching its key, is used', () => {
    const files = setup(pair('client', 'client'), pair('newer', 'newer'));
    const choice = chooseCloudCertificate(files.onboarding, files.runtime, now);
    assert.equal(choice.source, 'runtime');
    assert.deepEqual(choice.paths, files.runtime);
    assert.match(choice.material.subject, /CN=fixture-cluster-reonboarded/);
    assert.match(choice.reason, /valid until 2044-.* and not older than the onboarding certificate/);
  });

  test('a stored certificate older than the onboarding one is passed over (the cluster was onboarded again)', () => {
    const files = setup(pair('newer', 'newer'), pair('client', 'client'));
    const choice = chooseCloudCertificate(files.onboarding, files.runtime, now);
    assert.equal(choice.source, 'onboarding');
    assert.match(choice.reason, /is older than the onboarding certificate/);
    assert.equal(choice.runtimeUnusable, false);
  });

  test('an expired or not yet valid stored certificate is passed over, with a warning', () => {
    const expired = setup(pair('client', 'client'), pair('expired', 'expired'));
    const choice = chooseCloudCertificate(expired.onboarding, expired.runtime, now);
    assert.equal(choice.source, 'onboarding');
    assert.match(choice.reason, /the runtime Secret's certificate expired at 2021-01-01T00:00:00.000Z/);
    assert.equal(choice.runtimeUnusable, true);
    const early = setup(pair('client', 'client'), pair('newer', 'newer'));
    const tooSoon = chooseCloudCertificate(early.onboarding, early.runtime, Date.UTC(2026, 10, 25, 23));
    assert.equal(tooSoon.source, 'onboarding');
    assert.match(tooSoon.reason, /is not valid before 2026-11-26/);
  });

  test('a corrupt, incomplete or mismatched stored set is passed over, with a warning saying what is wrong', () => {
    const cases: [Parameters<typeof put>[1], RegExp][] = [
      [{ ...pair('newer', 'newer'), 'tls.crt': 'garbage' }, /certificate .*tls\.crt is not a PEM certificate/],
      [{ ...pair('newer', 'newer'), 'tls.key': 'garbage' }, /private key .*tls\.key is not a PEM private key/],
      [{ ...pair('newer', 'newer'), 'ca.crt': 'garbage' }, /CA certificate .*ca\.crt is not a PEM certificate/],
      [pair('newer', 'other'), /private key .*tls\.key does not belong to certificate/],
      [{ 'tls.crt': fixture('newer.crt') }, /cannot read private key .*tls\.key \(ENOENT\)/],
    ];
    for (const [runtime, reason] of cases) {
      const files = setup(pair('client', 'client'), runtime);
      const choice = chooseCloudCertificate(files.onboarding, files.runtime, now);
      assert.equal(choice.source, 'onboarding');
      assert.match(choice.reason, /^the runtime Secret's certificate cannot be used: /);
      assert.match(choice.reason, reason);
      assert.equal(choice.runtimeUnusable, true);
    }
  });

  test('nothing stored yet (the first start) or no runtime folder configured: the onboarding files', () => {
    const files = setup(pair('client', 'client'), {});
    const choice = chooseCloudCertificate(files.onboarding, files.runtime, now);
    assert.equal(choice.source, 'onboarding');
    assert.match(choice.reason, /the runtime Secret holds no certificate yet/);
    assert.equal(choice.runtimeUnusable, false);
    fs.rmSync(path.dirname(files.runtime.certFile), { recursive: true });
    assert.equal(chooseCloudCertificate(files.onboarding, files.runtime, now).source, 'onboarding', 'the folder itself missing');
    assert.match(chooseCloudCertificate(files.onboarding, undefined, now).reason, /no runtime Secret folder is configured/);
  });

  test('broken onboarding files do not stop a start with a usable stored set; with neither, the onboarding file at fault is named', () => {
    const files = setup({ ...pair('client', 'client'), 'tls.key': 'garbage' }, pair('newer', 'newer'));
    const choice = chooseCloudCertificate(files.onboarding, files.runtime, now);
    assert.equal(choice.source, 'runtime');
    assert.match(choice.reason, /the onboarding certificate cannot be used \(private key .* is not a PEM private key\)/);
    const none = setup({ ...pair('client', 'client'), 'tls.key': 'garbage' }, pair('expired', 'expired'));
    assert.throws(() => chooseCloudCertificate(none.onboarding, none.runtime, now), (err: unknown) => err instanceof TlsFileError && err.file === 'key');
  });

  test('CloudCertificateFiles switches to a stored set once it shows up in the runtime folder, and only then', () => {
    const files = setup(pair('client', 'client'), {});
    const tls = new CloudCertificateFiles(files.onboarding, files.runtime);
    assert.equal(tls.chosen.source, 'onboarding');
    const changes: string[] = [];
    tls.on('change', (m, choice) => changes.push(`${choice.source} ${m.subject}`));
    assert.equal(tls.reload(), false, 'nothing changed');
    put(path.dirname(files.runtime.certFile), pair('newer', 'newer'));
    assert.equal(tls.reload(), true);
    assert.deepEqual(changes, ['runtime CN=fixture-cluster-reonboarded']);
    assert.equal(tls.chosen.source, 'runtime');
    assert.equal(tls.reload(), false, 'the same set again');
    // A broken update of the stored set falls back to the onboarding files rather than keeping something unusable.
    put(path.dirname(files.runtime.certFile), { 'tls.key': fixture('other.key') });
    assert.equal(tls.reload(), true);
    assert.equal(tls.chosen.source, 'onboarding');
    const errors: Error[] = [];
    tls.on('error', (err) => errors.push(err));
    put(path.dirname(files.onboarding.certFile), { 'tls.crt': 'garbage' });
    assert.equal(tls.reload(), false, 'neither usable: the material in use stays');
    assert.equal(errors.length, 1);
    assert.match(tls.current.subject, /CN=fixture-cluster$/);
    tls.close();
  });
});

test('the start says in one line which credential it uses and why; a warning when a stored one was unusable', () => {
  const lines: [string, string, Record<string, unknown>][] = [];
  const logger = { info: (m: string, f: Record<string, unknown>) => lines.push(['info', m, f]), warn: (m: string, f: Record<string, unknown>) => lines.push(['warn', m, f]) } as unknown as Logger;
  const choice = (source: CredentialChoice['source'], runtimeUnusable: boolean): CredentialChoice => ({ source, file: '/f', reason: 'because', runtimeUnusable });
  logCredentialChoice(logger, 'token', choice('runtime', false), { expiresAt: 'x' });
  logCredentialChoice(logger, 'certificate', choice('onboarding', true), {});
  assert.deepEqual(lines, [
    ['info', 'cloud token at start: from the runtime Secret (stored by the aggregator)', { source: 'runtime', file: '/f', reason: 'because', expiresAt: 'x' }],
    ['warn', 'cloud certificate at start: from the onboarding Secret', { source: 'onboarding', file: '/f', reason: 'because' }],
  ]);
});
