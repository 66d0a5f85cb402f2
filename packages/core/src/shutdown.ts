// Graceful stop on SIGTERM/SIGINT: one AbortController for the whole process; components stop by watching its
// signal, and the main awaits their drain before exiting. A second signal exits at once.
export function shutdownSignal(onSecond: () => void = () => process.exit(130)): AbortSignal {
  const controller = new AbortController();
  const handle = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) onSecond();
    else controller.abort(new Error(`received ${signal}`));
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
  return controller.signal;
}
