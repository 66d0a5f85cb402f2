// Which kubectl invocations run: read-only verbs, each with its own flag allowlist, no flag that changes identity,
// target or files read, no watch or follow, no Secret under any spelling, no output template language beyond
// JSONPath. This check gives the cloud's agent a precise refusal; the policy proxy that kubectl talks to (see
// api-proxy.ts) enforces the API path rules again on every request kubectl makes, so a spelling this table misses
// still cannot reach a Secret or write anything.
import { checkApiPath, isSecretLike } from './api-paths.js';
import { refuse, type Refusal } from './refusal.js';

export interface KubectlPlan {
  /** What kubectl is run with (after the program name). */
  args: string[];
  /** The verb, for audit and metrics: "get", "auth can-i", "rollout status"... */
  verb: string;
  /** `kubectl auth can-i` asks the API server by POSTing a SelfSubjectAccessReview: the proxy lets that one through. */
  allowSelfAccessReviews: boolean;
}

type Check = (value: string) => Refusal | undefined;

interface Flag {
  /** true: takes a value (--f=v, --f v, -fv, -f=v); false: a switch (--f, --f=true|false). */
  value: boolean;
  check?: Check;
}

const SHELLS = new Set(['bash', 'sh', 'zsh', 'dash', 'ksh', 'csh', 'tcsh', 'fish', 'ash', 'busybox', 'env', 'sudo', 'su', 'xargs', 'nsenter', 'chroot', 'timeout', 'nohup', 'exec', 'eval', 'source', '.', 'command', 'builtin', 'nice', 'watch', 'script']);

/** Flags that change who kubectl is or which cluster it talks to. */
const IDENTITY_FLAGS = new Set([
  '--kubeconfig',
  '--token',
  '--server',
  '-s',
  '--as',
  '--as-group',
  '--as-uid',
  '--user',
  '--cluster',
  '--context',
  '--certificate-authority',
  '--client-certificate',
  '--client-key',
  '--insecure-skip-tls-verify',
  '--tls-server-name',
  '--username',
  '--password',
  '--auth-provider',
  '--exec-command',
  '--proxy-url',
  '--disable-compression',
]);

/** Flags that read or write local files. */
const FILE_FLAGS = new Set(['-f', '--filename', '-k', '--kustomize', '-R', '--recursive', '--cache-dir', '--profile', '--profile-output', '--log-file', '--log-dir', '--log-backtrace-at', '--template', '--kuberc']);

/** Flags of kubectl's own logging: -v=6 and up print every request, headers included. */
const LOGGING_FLAGS = new Set(['-v', '--v', '--vmodule', '--alsologtostderr', '--logtostderr', '--stderrthreshold', '--one-output', '--skip-headers', '--skip-log-headers', '--add-dir-header', '--log-flush-frequency', '--warnings-as-errors']);

const WATCH_FLAGS = new Set(['-w', '--watch', '--watch-only', '--output-watch-events', '--follow']);

const NAMESPACE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;
const TYPE = /^[a-z0-9][a-z0-9.-]*$/;

const matches =
  (re: RegExp, what: string): Check =>
  (v) =>
    re.test(v) ? undefined : refuse('argument', `${JSON.stringify(v)} is not ${what}`);
const oneOf =
  (values: string[], code: 'argument' | 'output_format' = 'argument'): Check =>
  (v) =>
    values.includes(v) ? undefined : refuse(code, `${JSON.stringify(v)} is not one of ${values.join(', ')}`);
const anyText: Check = (v) => (v.length <= 1024 ? undefined : refuse('too_large', 'a flag value longer than 1024 characters'));

/** -o: the printers that only print what was fetched; templates with a language of their own and files are refused. */
function outputFormat(allowed: string[]): Check {
  return (v) => {
    const [format = '', ...rest] = v.split('=');
    const name = format.toLowerCase();
    if (name.endsWith('-file')) return refuse('file_flag', `-o ${format} reads a template from a local file`);
    if (name === 'go-template' || name === 'template' || name === 'templatefile') {
      return refuse('output_format', `-o ${format}: Go templates are not run (they are a language of their own); use -o jsonpath=... or -o custom-columns=...`);
    }
    if (!allowed.includes(name)) return refuse('output_format', `-o ${format} is not accepted here (accepted: ${allowed.join(', ')})`);
    if ((name === 'jsonpath' || name === 'jsonpath-as-json' || name === 'custom-columns') && rest.join('=').length === 0) return refuse('output_format', `-o ${format} needs an expression`);
    return anyText(v);
  };
}

const GET_OUTPUTS = ['json', 'yaml', 'wide', 'name', 'jsonpath', 'jsonpath-as-json', 'custom-columns'];

const GLOBAL: Record<string, Flag> = {
  '-n': { value: true, check: matches(NAMESPACE, 'a namespace name') },
  '--namespace': { value: true, check: matches(NAMESPACE, 'a namespace name') },
  '--request-timeout': { value: true, check: matches(/^\d+(ms|s|m|h)?$/, 'a timeout such as 30s') },
};

const selector: Flag = { value: true, check: anyText };
const allNamespaces: Flag = { value: false };
const noHeaders: Flag = { value: false };
const chunkSize: Flag = { value: true, check: matches(/^\d{1,5}$/, 'a number') };

function resourceRef(v: string): Refusal | undefined {
  const [type = '', name, ...more] = v.split('/');
  const t = type.toLowerCase();
  if (isSecretLike(t)) return refuse('secret', `Secrets are never read (${JSON.stringify(v)})`);
  if (!TYPE.test(t) || name === undefined || name === '' || more.length > 0 || !NAME.test(name)) return refuse('argument', `${JSON.stringify(v)} is not TYPE/NAME`);
  return undefined;
}

const VERBS: Record<string, { flags: Record<string, Flag>; refused?: Record<string, Refusal>; positionals: (args: string[]) => Refusal | undefined; inject?: (args: string[]) => string[] }> = {
  get: {
    flags: {
      '-A': allNamespaces,
      '--all-namespaces': allNamespaces,
      '-l': selector,
      '--selector': selector,
      '--field-selector': selector,
      '-o': { value: true, check: outputFormat(GET_OUTPUTS) },
      '--output': { value: true, check: outputFormat(GET_OUTPUTS) },
      '--no-headers': noHeaders,
      '--show-labels': { value: false },
      '-L': { value: true, check: anyText },
      '--label-columns': { value: true, check: anyText },
      '--sort-by': { value: true, check: anyText },
      '--show-kind': { value: false },
      '--show-managed-fields': { value: false },
      '--chunk-size': chunkSize,
      '--ignore-not-found': { value: false },
      '--server-print': { value: false },
      '--subresource': { value: true, check: oneOf(['status', 'scale']) },
      '--raw': {
        value: true,
        check: (v) => {
          const target = checkApiPath(v);
          return 'refused' in target ? target : undefined;
        },
      },
    },
    positionals: (args) => resources(args, true),
  },
  describe: {
    flags: { '-A': allNamespaces, '--all-namespaces': allNamespaces, '-l': selector, '--selector': selector, '--show-events': { value: false }, '--chunk-size': chunkSize },
    positionals: (args) => resources(args, true),
  },
  logs: {
    flags: {
      '-c': { value: true, check: matches(NAME, 'a container name') },
      '--container': { value: true, check: matches(NAME, 'a container name') },
      '--all-containers': { value: false },
      '-p': { value: false },
      '--previous': { value: false },
      '--tail': { value: true, check: matches(/^-?\d{1,7}$/, 'a line count') },
      '--since': { value: true, check: matches(/^\d+(s|m|h)$/, 'a duration such as 10m') },
      '--since-time': { value: true, check: matches(/^[0-9T:.+Z-]{10,40}$/, 'an RFC 3339 time') },
      '--timestamps': { value: false },
      '--limit-bytes': { value: true, check: matches(/^\d{1,10}$/, 'a byte count') },
      '-l': selector,
      '--selector': selector,
      '--max-log-requests': { value: true, check: matches(/^([1-9]|10)$/, 'a number from 1 to 10') },
      '--prefix': { value: false },
      '--ignore-errors': { value: false },
      '--pod-running-timeout': { value: true, check: matches(/^\d+(s|m)$/, 'a duration such as 20s') },
    },
    refused: { '-f': refuse('watch', 'following logs (-f) is not served: use --tail or --since') },
    positionals: (args) => {
      if (args.length === 0 || args.length > 2) return refuse('argument', 'expected POD or TYPE/NAME, and optionally a container');
      const [first = '', container] = args;
      if (first.includes('/')) return resourceRef(first);
      if (!NAME.test(first)) return refuse('argument', `${JSON.stringify(first)} is not a pod name`);
      return container === undefined || NAME.test(container) ? undefined : refuse('argument', `${JSON.stringify(container)} is not a container name`);
    },
  },
  top: {
    flags: {
      '-A': allNamespaces,
      '--all-namespaces': allNamespaces,
      '-l': selector,
      '--selector': selector,
      '--field-selector': selector,
      '--containers': { value: false },
      '--sort-by': { value: true, check: oneOf(['cpu', 'memory']) },
      '--no-headers': noHeaders,
      '--sum': { value: false },
      '--show-capacity': { value: false },
    },
    refused: { '--use-protocol-buffers': refuse('flag', '--use-protocol-buffers is not needed (the operator reads JSON)') },
    positionals: (args) => {
      const [kind, name, ...more] = args;
      if (!['node', 'nodes', 'no', 'pod', 'pods', 'po'].includes(kind ?? '')) return refuse('argument', 'expected kubectl top node|pod');
      if (more.length > 0 || (name !== undefined && !NAME.test(name))) return refuse('argument', 'expected at most one name');
      return undefined;
    },
  },
  events: {
    flags: {
      '-A': allNamespaces,
      '--all-namespaces': allNamespaces,
      '--for': { value: true, check: resourceRef },
      '--types': { value: true, check: matches(/^[A-Za-z,]{1,64}$/, 'a list of event types') },
      '-o': { value: true, check: outputFormat(GET_OUTPUTS) },
      '--output': { value: true, check: outputFormat(GET_OUTPUTS) },
      '--no-headers': noHeaders,
      '--chunk-size': chunkSize,
    },
    positionals: (args) => (args.length === 0 ? undefined : refuse('argument', 'kubectl events takes no arguments (use --for TYPE/NAME)')),
  },
  explain: {
    flags: {
      '--recursive': { value: false },
      '--api-version': { value: true, check: matches(/^[a-z0-9.-]+\/?[a-z0-9]*$/, 'an API version') },
      '-o': { value: true, check: outputFormat(['plaintext', 'plaintext-openapiv2']) },
      '--output': { value: true, check: outputFormat(['plaintext', 'plaintext-openapiv2']) },
    },
    // explain reads only the OpenAPI schema, never an object: `kubectl explain secret` is allowed.
    positionals: (args) => (args.length === 1 && /^[A-Za-z0-9.-]+$/.test(args[0]!) ? undefined : refuse('argument', 'expected one RESOURCE[.field...]')),
  },
  'api-resources': {
    flags: {
      '--namespaced': { value: false },
      '--api-group': { value: true, check: matches(/^[a-z0-9.-]*$/, 'an API group') },
      '-o': { value: true, check: outputFormat(['wide', 'name', 'json', 'yaml']) },
      '--output': { value: true, check: outputFormat(['wide', 'name', 'json', 'yaml']) },
      '--verbs': { value: true, check: matches(/^[a-z,]+$/, 'a list of verbs') },
      '--sort-by': { value: true, check: oneOf(['name', 'kind']) },
      '--no-headers': noHeaders,
      '--cached': { value: false },
      '--categories': { value: true, check: matches(/^[a-z,-]+$/, 'a list of categories') },
    },
    positionals: (args) => (args.length === 0 ? undefined : refuse('argument', 'kubectl api-resources takes no arguments')),
  },
  'api-versions': { flags: {}, positionals: (args) => (args.length === 0 ? undefined : refuse('argument', 'kubectl api-versions takes no arguments')) },
  version: {
    flags: { '--client': { value: false }, '-o': { value: true, check: outputFormat(['json', 'yaml']) }, '--output': { value: true, check: outputFormat(['json', 'yaml']) } },
    positionals: (args) => (args.length === 0 ? undefined : refuse('argument', 'kubectl version takes no arguments')),
  },
  'auth can-i': {
    flags: { '-A': allNamespaces, '--all-namespaces': allNamespaces, '--list': { value: false }, '--subresource': { value: true, check: matches(/^[a-z]+$/, 'a subresource') }, '--no-headers': noHeaders, '-q': { value: false }, '--quiet': { value: false } },
    // Asking whether something is allowed reads nothing: `auth can-i get secrets` is allowed.
    positionals: (args) => (args.length <= 3 && args.every((a) => /^[A-Za-z0-9.*/:_-]+$/.test(a)) ? undefined : refuse('argument', 'expected VERB TYPE[/NAME] [NAME] or --list')),
  },
  'rollout status': {
    flags: {
      '--revision': { value: true, check: matches(/^\d{1,9}$/, 'a revision number') },
      '--timeout': { value: true, check: matches(/^\d+(s|m)?$/, 'a duration') },
      '-w': { value: false },
      '--watch': { value: false },
      '-l': selector,
      '--selector': selector,
    },
    positionals: (args) => resources(args, false),
    // A snapshot, never a watch: kubectl rollout status would otherwise wait for the rollout to finish.
    inject: (args) => [...args.filter((a) => !/^(-w|--watch)(=.*)?$/.test(a)), '--watch=false'],
  },
  'rollout history': {
    flags: {
      '--revision': { value: true, check: matches(/^\d{1,9}$/, 'a revision number') },
      '-o': { value: true, check: outputFormat(GET_OUTPUTS) },
      '--output': { value: true, check: outputFormat(GET_OUTPUTS) },
      '-l': selector,
      '--selector': selector,
    },
    positionals: (args) => resources(args, false),
  },
};

/** Verbs (and verb pairs) that change something or reach into containers: refused with that reason. */
const WRITE_VERBS = new Set([
  'apply', 'create', 'delete', 'edit', 'patch', 'replace', 'scale', 'autoscale', 'label', 'annotate', 'set', 'expose', 'run', 'exec', 'cp',
  'attach', 'port-forward', 'proxy', 'debug', 'cordon', 'uncordon', 'drain', 'taint', 'certificate', 'wait', 'diff', 'kustomize', 'config',
  'plugin', 'alpha', 'completion', 'cluster-info', 'options', 'convert', 'rollout restart', 'rollout undo', 'rollout pause', 'rollout resume',
  'auth reconcile',
]);

/** TYPE[,TYPE...] [NAME...] or TYPE/NAME..., with the secret rule on every type. */
function resources(args: string[], allowTypeOnly: boolean): Refusal | undefined {
  if (args.length === 0) return refuse('argument', 'expected a resource type');
  if (args.some((a) => a.includes('/'))) {
    for (const a of args) {
      const r = resourceRef(a);
      if (r) return r;
    }
    return undefined;
  }
  const [types = '', ...names] = args;
  for (const type of types.split(',')) {
    const t = type.toLowerCase();
    if (isSecretLike(t)) return refuse('secret', `Secrets are never read (${JSON.stringify(type)})`);
    if (!TYPE.test(t)) return refuse('argument', `${JSON.stringify(type)} is not a resource type`);
  }
  if (!allowTypeOnly && names.length === 0) return refuse('argument', 'expected TYPE NAME or TYPE/NAME');
  for (const name of names) if (!NAME.test(name)) return refuse('argument', `${JSON.stringify(name)} is not a name`);
  return undefined;
}

interface ParsedFlag {
  name: string;
  value: string | undefined;
  /** How many argv entries it used. */
  used: number;
}

/** Reads the flag at args[i]; `spec` tells whether it takes a value. */
function readFlag(args: string[], i: number, spec: (name: string) => Flag | undefined): ParsedFlag | Refusal {
  const arg = args[i]!;
  if (arg === '--') return refuse('argument', '"--" is not accepted');
  if (arg.startsWith('--')) {
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    const flag = spec(name);
    if (!flag) return { name, value: inline, used: 1 };
    if (!flag.value) return { name, value: inline, used: 1 };
    if (inline !== undefined) return { name, value: inline, used: 1 };
    if (i + 1 >= args.length) return refuse('flag', `${name} needs a value`);
    return { name, value: args[i + 1], used: 2 };
  }
  const name = arg.slice(0, 2);
  const rest = arg.slice(2);
  const flag = spec(name);
  if (!flag) return { name, value: rest === '' ? undefined : rest, used: 1 };
  if (!flag.value) {
    if (rest === '') return { name, value: undefined, used: 1 };
    if (rest.startsWith('=')) return { name, value: rest.slice(1), used: 1 };
    return refuse('flag', `combined short flags (${arg}) are not accepted: give each flag on its own`);
  }
  if (rest !== '') return { name, value: rest.startsWith('=') ? rest.slice(1) : rest, used: 1 };
  if (i + 1 >= args.length) return refuse('flag', `${name} needs a value`);
  return { name, value: args[i + 1], used: 2 };
}

function namedRefusal(name: string, verbRefused: Record<string, Refusal> | undefined): Refusal | undefined {
  if (verbRefused && Object.hasOwn(verbRefused, name)) return verbRefused[name];
  if (IDENTITY_FLAGS.has(name)) return refuse('identity_flag', `${name} would change who kubectl is or which cluster it talks to; it always runs as the operator, against this cluster`);
  if (FILE_FLAGS.has(name)) return refuse('file_flag', `${name} reads or writes local files`);
  if (LOGGING_FLAGS.has(name)) return refuse('flag', `${name} (kubectl's own logging) is not accepted`);
  if (WATCH_FLAGS.has(name)) return refuse('watch', `${name}: watching and following are not served; ask for a snapshot`);
  return undefined;
}

/** Checks a command's words (the program name first) and returns what kubectl is run with. */
export function checkKubectl(words: string[]): KubectlPlan | Refusal {
  const [program = '', ...args] = words;
  if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(program)) return refuse('program', `an environment assignment (${program.split('=')[0]}=...) before the command`);
  if (program !== 'kubectl') {
    const base = program.split('/').pop() ?? program;
    if (base === 'kubectl') return refuse('program', 'give kubectl by name, not by path: the operator runs its own kubectl');
    if (SHELLS.has(base)) return refuse('program', `${program} would run other programs; only kubectl is run, and never through a shell`);
    return refuse('program', `${JSON.stringify(program)} is not run: only kubectl is (read-only verbs)`);
  }

  // First, find the verb: only global flags may come before it.
  const positionals: string[] = [];
  let verbIndex = -1;
  for (let i = 0; i < args.length; ) {
    const a = args[i]!;
    if (a.startsWith('-') && a !== '-') {
      const f = readFlag(args, i, (n) => GLOBAL[n]);
      if ('refused' in f) return f;
      const named = namedRefusal(f.name, undefined);
      if (named) return named;
      if (!Object.hasOwn(GLOBAL, f.name)) return refuse('flag', `${f.name} before the verb: only -n/--namespace and --request-timeout may come first`);
      i += f.used;
      continue;
    }
    verbIndex = i;
    break;
  }
  if (verbIndex === -1) return refuse('verb', 'no kubectl verb given');
  let verb = args[verbIndex]!;
  let afterVerb = verbIndex + 1;
  if (verb === 'auth' || verb === 'rollout') {
    const sub = args[afterVerb];
    verb = `${verb} ${sub ?? ''}`.trim();
    afterVerb++;
  }
  const spec = Object.hasOwn(VERBS, verb) ? VERBS[verb] : undefined;
  if (!spec) {
    const head = verb.split(' ')[0]!;
    if (WRITE_VERBS.has(head) || WRITE_VERBS.has(verb)) return refuse('verb', `kubectl ${verb} is not served: only read-only verbs run (get, describe, logs, top, events, explain, api-resources, api-versions, version, auth can-i, rollout status, rollout history)`);
    return refuse('verb', `kubectl ${JSON.stringify(verb)} is not a served verb (served: ${Object.keys(VERBS).join(', ')})`);
  }

  const all = { ...GLOBAL, ...spec.flags };
  const lookup = (n: string): Flag | undefined => (Object.hasOwn(all, n) ? all[n] : undefined);
  const before = args.slice(0, verbIndex);
  const rest = args.slice(afterVerb);
  for (let i = 0; i < rest.length; ) {
    const a = rest[i]!;
    if (!(a.startsWith('-') && a !== '-')) {
      positionals.push(a);
      i++;
      continue;
    }
    const f = readFlag(rest, i, lookup);
    if ('refused' in f) return f;
    // A verb's own flag wins over the general lists (explain --recursive is not -R, rollout status --watch=false is
    // not a watch); identity flags are never any verb's own.
    const flag = lookup(f.name);
    const named = flag ? undefined : namedRefusal(f.name, spec.refused);
    if (named) return named;
    if (!flag) return refuse('flag', `${f.name} is not accepted for kubectl ${verb} (accepted: ${Object.keys(all).join(', ')})`);
    if (!flag.value && f.value !== undefined && f.value !== 'true' && f.value !== 'false') return refuse('flag', `${f.name} is a switch: =true or =false only`);
    if (flag.value && f.value !== undefined) {
      const problem = flag.check?.(f.value);
      if (problem) return problem;
    }
    if (verb === 'rollout status' && (f.name === '-w' || f.name === '--watch') && f.value !== 'false') return refuse('watch', 'rollout status is answered as a snapshot (--watch=false); waiting for a rollout is not served');
    i += f.used;
  }
  if (rest.includes('--raw') || rest.some((a) => a.startsWith('--raw='))) {
    if (positionals.length > 0) return refuse('argument', '--raw takes no resource arguments');
  } else {
    const problem = spec.positionals(positionals);
    if (problem) return problem;
  }
  const verbWords = args.slice(verbIndex, afterVerb);
  const tail = spec.inject ? spec.inject(rest) : rest;
  return { args: [...before, ...verbWords, ...tail], verb, allowSelfAccessReviews: verb === 'auth can-i' };
}
