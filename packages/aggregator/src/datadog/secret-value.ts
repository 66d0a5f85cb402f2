// A credential that cannot be printed by accident: JSON, string conversion and util.inspect (what loggers and
// debug views use) all show "[redacted]"; only reveal() gives the value, and only the HTTP client calls it.
import { inspect } from 'node:util';

export class SecretValue {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return '[redacted]';
  }
}

/** Replaces every occurrence of the secrets in a text (an upstream body or error that might echo a key). */
export function scrub(text: string, secrets: readonly (SecretValue | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    const v = s?.reveal();
    if (v && v.length >= 8) out = out.split(v).join('[redacted]');
  }
  return out;
}
