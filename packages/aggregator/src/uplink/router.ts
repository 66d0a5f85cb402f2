// Which stream carries which record kind: its dedicated stream, or StreamData when the cloud answered UNIMPLEMENTED
// for that stream. The fallback holds for the connection it was learnt on; on a new connection the dedicated
// stream is tried again, but only once StreamData holds nothing of those kinds any more — otherwise lines of one
// container could reach the cloud out of order across two streams, and a receiver that drops replays by line
// number would drop the later-arriving older ones.
import type { CloudStream } from './cloud-stream.js';
import type { OutMessage } from './delivery.js';
import type { UplinkEvents } from './events.js';
import { homeStream, type RecordKind, type StreamName } from './records.js';

export class Router {
  private readonly fallback = new Set<StreamName>();

  constructor(
    private readonly streams: ReadonlyMap<StreamName, CloudStream>,
    private readonly events: UplinkEvents,
  ) {}

  /** The stream that carries a kind now. */
  streamFor(kind: RecordKind): CloudStream {
    const home = homeStream(kind);
    return this.stream(this.fallback.has(home) ? 'data' : home);
  }

  stream(name: StreamName): CloudStream {
    return this.streams.get(name)!;
  }

  isFallingBack(name: StreamName): boolean {
    return this.fallback.has(name);
  }

  /** A dedicated stream is not implemented by the cloud: its kinds and its waiting messages go to StreamData. */
  unimplemented(stream: CloudStream): void {
    if (stream.name === 'data') return;
    this.fallback.add(stream.name);
    const moved = stream.takeAll();
    this.stream('data').adopt(moved);
    this.events.fallback(stream.name, moved.length);
  }

  /** Whether a stream in fallback may be tried again (StreamData holds none of its kinds). */
  mayRetry(stream: CloudStream): boolean {
    const ours = (m: OutMessage) => homeStream(m.kind) === stream.name;
    if (this.stream('data').holds(ours)) return false;
    this.fallback.delete(stream.name);
    return true;
  }
}
