// A Hubble node socket for benchmarks that need flows faster than the grpc-js test server (hubble-test-server.ts)
// can send them (~20,000/s on the benchmark machine, so the agent would be measured reading a trickle). It answers
// observer.Observer/GetFlows on a unix socket over HTTP/2 written here, the way Cilium's Go gRPC server writes: one
// DATA frame per GetFlowsResponse (grpc-go never puts two messages in a frame), frames gathered into 32 KiB socket
// writes (grpc-go's write buffer), within the client's flow-control windows. It sends only what `send` is given
// (encoded GetFlowsResponses, in a loop) and keeps the call open until `stop`: no ring buffer, no `since`, no losses;
// the e2e tests use the grpc-js test server, which has all of that.
import fs from 'node:fs';
import net from 'node:net';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const WRITE_BATCH = 32 * 1024;

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const f = Buffer.allocUnsafe(9 + payload.length);
  f.writeUIntBE(payload.length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(stream, 5);
  payload.copy(f, 9);
  return f;
}

/** Header fields as HPACK literals without indexing (names and values under 127 bytes). */
function literalHeaders(fields: [string, string][]): Buffer {
  return Buffer.concat(fields.flatMap(([n, v]) => [Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]));
}

interface Follower {
  socket: net.Socket;
  stream: number;
  /** Flow-control credit: the client's stream window and the connection window. */
  streamWindow: number;
  connectionWindow: number;
  initialWindow: number;
  /** The request's DATA (5-byte gRPC prefix + GetFlowsRequest). */
  request: Buffer[];
  wake?: (() => void) | undefined;
}

export class HubbleBurstServer {
  private readonly server: net.Server;
  private readonly followers = new Set<Follower>();
  private readonly waitingForFollower: (() => void)[] = [];

  private constructor(readonly socketPath: string) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  static async start(socketPath: string): Promise<HubbleBurstServer> {
    fs.rmSync(socketPath, { force: true });
    const s = new HubbleBurstServer(socketPath);
    await new Promise<void>((resolve, reject) => s.server.once('error', reject).listen(socketPath, resolve));
    return s;
  }

  /** The GetFlowsRequest of the first follower (its bytes), e.g. to honour its field_mask in what is sent. */
  request(): Buffer | undefined {
    const f = this.followers.values().next().value as Follower | undefined;
    return f?.request.length ? Buffer.concat(f.request).subarray(5) : undefined;
  }

  /** Callers that have made their GetFlows call. */
  get clients(): number {
    return this.followers.size;
  }

  /** Sends `count` responses to the first follower, going round `responses`; resolves once all are written. */
  async send(responses: readonly Buffer[], count: number): Promise<void> {
    while (this.followers.size === 0) await new Promise<void>((r) => this.waitingForFollower.push(r));
    const f = this.followers.values().next().value as Follower;
    // Each response pre-framed once: 9-byte DATA header + 5-byte gRPC prefix + the message.
    const frames = responses.map((r) => {
      const payload = Buffer.allocUnsafe(5 + r.length);
      payload[0] = 0;
      payload.writeUInt32BE(r.length, 1);
      r.copy(payload, 5);
      return frame(0, 0, f.stream, payload);
    });
    let batch = Buffer.allocUnsafe(WRITE_BATCH * 2);
    let used = 0;
    for (let i = 0; i < count; i++) {
      const fr = frames[i % frames.length]!;
      const size = fr.length - 9;
      while (f.streamWindow < size || f.connectionWindow < size) {
        if (used > 0) {
          f.socket.write(batch.subarray(0, used));
          batch = Buffer.allocUnsafe(WRITE_BATCH * 2);
          used = 0;
        }
        if (f.socket.destroyed) throw new Error('the follower went away');
        await new Promise<void>((r) => (f.wake = r));
      }
      f.streamWindow -= size;
      f.connectionWindow -= size;
      fr.copy(batch, used);
      used += fr.length;
      if (used >= WRITE_BATCH) {
        const full = !f.socket.write(batch.subarray(0, used));
        batch = Buffer.allocUnsafe(WRITE_BATCH * 2);
        used = 0;
        if (full) await new Promise<void>((r) => f.socket.once('drain', r));
      }
    }
    if (used > 0) f.socket.write(batch.subarray(0, used));
  }

  async stop(): Promise<void> {
    for (const f of this.followers) {
      // The call's end, as a Go server ends it: trailers with grpc-status 0.
      f.socket.end(frame(1, 0x4 | 0x1, f.stream, literalHeaders([['grpc-status', '0']])));
    }
    this.followers.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const f: Follower = { socket, stream: 0, streamWindow: 65_535, connectionWindow: 65_535, initialWindow: 65_535, request: [] };
    socket.write(frame(4, 0, 0));
    let buf: Buffer = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!prefaceSeen) {
        if (buf.length < PREFACE.length) return;
        if (!buf.subarray(0, PREFACE.length).equals(PREFACE)) return void socket.destroy();
        prefaceSeen = true;
        buf = buf.subarray(PREFACE.length);
      }
      while (buf.length >= 9) {
        const length = buf.readUIntBE(0, 3);
        if (buf.length < 9 + length) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + length);
        buf = buf.subarray(9 + length);
        this.onFrame(f, type, flags, stream, payload);
      }
    });
    const gone = () => {
      this.followers.delete(f);
      f.wake?.();
    };
    socket.on('close', gone);
    socket.on('error', gone);
  }

  private onFrame(f: Follower, type: number, flags: number, stream: number, payload: Buffer): void {
    switch (type) {
      case 4: // SETTINGS
        if (flags & 0x1) return;
        for (let at = 0; at + 6 <= payload.length; at += 6) {
          if (payload.readUInt16BE(at) === 0x4) {
            const value = payload.readUInt32BE(at + 2);
            f.streamWindow += value - f.initialWindow;
            f.initialWindow = value;
          }
        }
        f.socket.write(frame(4, 0x1, 0));
        return;
      case 8: {
        // WINDOW_UPDATE
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (stream === 0) f.connectionWindow += increment;
        else f.streamWindow += increment;
        const wake = f.wake;
        f.wake = undefined;
        wake?.();
        return;
      }
      case 6: // PING
        if (!(flags & 0x1)) f.socket.write(frame(6, 0x1, 0, Buffer.from(payload)));
        return;
      case 1: // HEADERS: the request's; its fields do not matter here
        f.stream = stream;
        return;
      case 0: // DATA: the GetFlowsRequest; once it is whole, the response headers, then flows as `send` gives them
        f.request.push(Buffer.from(payload));
        if (flags & 0x1) {
          f.socket.write(frame(1, 0x4, f.stream, literalHeaders([[':status', '200'], ['content-type', 'application/grpc']])));
          this.followers.add(f);
          for (const w of this.waitingForFollower.splice(0)) w();
        }
        return;
      case 3: // RST_STREAM
      case 7: // GOAWAY
        f.socket.destroy();
        return;
      default:
        return;
    }
  }
}
