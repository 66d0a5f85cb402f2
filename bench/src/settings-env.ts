// Extra settings of a benchmark's process from an environment variable: "K=V,K=V" (sensitivity runs).

/** The pairs of `process.env[name]`; a value may hold `=` itself (only the first one splits). */
export function settingsFrom(name: string): Record<string, string> {
  return Object.fromEntries(
    (process.env[name] ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}
