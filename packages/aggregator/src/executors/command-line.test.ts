import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitCommandLine } from './command-line.js';

const words = (line: string): string[] => {
  const r = splitCommandLine(line);
  assert.ok(Array.isArray(r), `${line} should split, was refused: ${Array.isArray(r) ? '' : r.reason}`);
  return r;
};
const refused = (line: string, mentions: RegExp): void => {
  const r = splitCommandLine(line);
  assert.ok(!Array.isArray(r), `${JSON.stringify(line)} should be refused, split into ${JSON.stringify(r)}`);
  assert.match(r.reason, mentions, line);
};

test('quotes and backslashes split as bash splits them', () => {
  assert.deepEqual(words('kubectl get pods -n shop'), ['kubectl', 'get', 'pods', '-n', 'shop']);
  assert.deepEqual(words('  kubectl\tget   pods  '), ['kubectl', 'get', 'pods']);
  assert.deepEqual(words(`kubectl get pods -o jsonpath='{.items[*].metadata.name}'`), ['kubectl', 'get', 'pods', '-o', 'jsonpath={.items[*].metadata.name}']);
  assert.deepEqual(words(`kubectl get pods -l "app in (a,b)"`), ['kubectl', 'get', 'pods', '-l', 'app in (a,b)']);
  assert.deepEqual(words(`kubectl get pods -l app\\ in\\ \\(a,b\\)`), ['kubectl', 'get', 'pods', '-l', 'app in (a,b)']);
  assert.deepEqual(words(`a"b"'c'd`), ['abcd']);
  assert.deepEqual(words(`"a\\"b\\\\c\\$d\\x"`), ['a"b\\c$d\\x'], 'in double quotes a backslash escapes only $ ` " \\');
  assert.deepEqual(words(`'$(not run)'`), ['$(not run)'], 'single quotes are literal');
  assert.deepEqual(words(`kubectl get pods ''`), ['kubectl', 'get', 'pods', '']);
  assert.deepEqual(words('kubectl get pods --field-selector status.phase!=Running'), ['kubectl', 'get', 'pods', '--field-selector', 'status.phase!=Running']);
  assert.deepEqual(words('kubectl get pods a#b'), ['kubectl', 'get', 'pods', 'a#b'], '# inside a word is not a comment');
});

test('everything a shell would treat specially is refused, named', () => {
  refused('kubectl get pods | grep cart', /pipe/);
  refused('kubectl get pods || true', /\|\|/);
  refused('kubectl get pods && kubectl delete pods --all', /&&/);
  refused('kubectl get pods &', /background/);
  refused('kubectl get pods; rm -rf /', /;/);
  refused('kubectl get pods > /tmp/out', /redirection/);
  refused('kubectl get pods 2>&1', /redirection/);
  refused('kubectl get pods &> /tmp/out', /redirection/);
  refused('kubectl get pods < /etc/passwd', /redirection/);
  refused('diff <(kubectl get pods) x', /process substitution/);
  refused('kubectl get pods -n $(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)', /command substitution/);
  refused('kubectl get pods -n `whoami`', /command substitution/);
  refused('kubectl get pods -n $NS', /variable expansion/);
  refused('kubectl get pods -n ${NS}', /parameter expansion/);
  refused('kubectl get pods -n "$NS"', /inside double quotes/);
  refused('kubectl get pods -n "`id`"', /inside double quotes/);
  refused("kubectl get pods $'\\x41'", /ANSI-C/);
  refused('kubectl get pods\nkubectl delete pods --all', /newline/);
  refused('kubectl get pods\r', /newline/);
  refused('kubectl get pods \u0000', /control/);
  refused("kubectl get pods -l 'app=cart", /unterminated single quote/);
  refused('kubectl get pods -l "app=cart', /unterminated double quote/);
  refused('kubectl get pods \\', /backslash at the end/);
  refused('kubectl get pods *', /glob/);
  refused('kubectl get pods cart-?', /glob/);
  refused('kubectl get pods [ab]', /glob/);
  refused('kubectl get pods {a,b}', /brace/);
  refused('kubectl get pods ~/x', /tilde/);
  refused('kubectl get pods # comment', /comment/);
  refused('(kubectl get pods)', /parentheses/);
  refused('', /empty/);
  refused('   ', /empty/);
  refused('kubectl ' + 'a'.repeat(5000), /longer than/);
  refused('kubectl' + ' a'.repeat(200), /more than 128 arguments/);
});
