// Continue tokens for paged lists, in the real server's format (base64url JSON {v, rv, start}). Every page of one
// list is served at the first page's resourceVersion, so a paged list is a consistent snapshot even while objects
// change; once that version leaves the history the token expires with 410, as it does against etcd after compaction.
import { badRequest } from './status.js';

export interface ContinueToken {
  /** resourceVersion the whole list is served at. */
  rv: number;
  /** The key of the last item returned: the next page starts after it. */
  after: string;
}

export function encodeContinue(token: ContinueToken): string {
  // The real token's "start" is the next key to read: the last key plus a zero byte.
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: token.rv, start: `${token.after}\u0000` })).toString('base64url');
}

export function decodeContinue(text: string): ContinueToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('continue key is not valid: illegal base64 data');
  }
  const p = parsed as { v?: unknown; rv?: unknown; start?: unknown };
  if (p.v !== 'meta.k8s.io/v1') throw badRequest('continue key is not valid: server does not recognize this encoded key');
  if (typeof p.rv !== 'number' || typeof p.start !== 'string' || !p.start.endsWith('\u0000')) {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
  return { rv: p.rv, after: p.start.slice(0, -1) };
}
