// Waiting for a condition in a test: polls it until it holds, failing with what was awaited. A module of its own so
// that a test can wait without importing a whole system harness.

/** Waits (polling) for a condition, failing with what was awaited. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
