// What a refusal says: a stable, low-cardinality code (a metrics label, and what tests match on) and a sentence
// for the cloud's agent and the audit log. Every check in this folder returns one of these instead of throwing,
// so a hostile input can never turn into an exception path that forgets to answer or to audit.

export type RefusalCode =
  // Kubernetes API paths (also what kubectl asks the policy proxy for)
  | 'malformed_path'
  | 'encoding'
  | 'traversal'
  | 'query'
  | 'watch'
  | 'method'
  | 'secret'
  | 'token'
  | 'exec'
  | 'proxy'
  | 'review'
  | 'write_subresource'
  | 'not_allowlisted'
  // command lines
  | 'shell_syntax'
  | 'program'
  | 'verb'
  | 'identity_flag'
  | 'file_flag'
  | 'flag'
  | 'output_format'
  | 'argument'
  // YAML
  | 'apply_disabled'
  | 'manifest'
  // any kind
  | 'too_large'
  | 'rate_limited';

export interface Refusal {
  readonly refused: true;
  readonly code: RefusalCode;
  readonly reason: string;
}

export const refuse = (code: RefusalCode, reason: string): Refusal => ({ refused: true, code, reason });

export const isRefusal = (v: unknown): v is Refusal => typeof v === 'object' && v !== null && (v as { refused?: unknown }).refused === true;

/** The words the cloud reads: the code in parentheses, so a person and a test can both find it. */
export const refusalText = (r: Refusal): string => `refused by kestrel-operator policy (${r.code}): ${r.reason}`;
