// A TCP proxy a test puts between the aggregator and cloud-dev, to play network failures and to count the bytes
// that really cross the wire (TLS records, HTTP/2 frames, compressed gRPC messages and all).
//
// - cut(): a network partition. Nothing passes either way on open connections (the proxy stops reading, so the
//   kernel's buffers fill and TCP flow control stalls the sender, as when packets vanish), and new connections are
//   accepted but not connected onward (a handshake that hangs). restore() lets everything flow again; a connection
//   its client gave up on in between is closed.
// - silenceTarget(): a one-way partition. What clients send still reaches the target; what the target answers no
//   longer reaches the clients (the proxy stops reading from it). Data reaches the cloud and is stored, but the
//   heartbeats that would prove it never come back: the case where a replay window resends what the cloud has.
//   cut() and restore() end it.
// - sever(): every connection is reset at once (what a crashed load balancer does); new ones keep working.
// - setTarget(): where new connections go (e.g. a restarted cloud-dev on another port).
import net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream: net.Socket | undefined;
}

export class TcpProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  private cutNow = false;
  private silentNow = false;
  /** Bytes from clients to the target, and back. */
  bytesUp = 0;
  bytesDown = 0;
  connections = 0;
  address = '';

  private constructor(private target: string) {
    // No Nagle delay: a proxy must not hold back the small frames (HTTP/2 WINDOW_UPDATE, pings) it relays.
    this.server = net.createServer({ noDelay: true }, (client) => this.accept(client));
  }

  static async start(target: string, host = '127.0.0.1'): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, host, () => resolve());
    });
    const bound = proxy.server.address() as net.AddressInfo;
    proxy.address = `${bound.address}:${bound.port}`;
    return proxy;
  }

  setTarget(target: string): void {
    this.target = target;
  }

  get isCut(): boolean {
    return this.cutNow;
  }

  get open(): number {
    return this.pairs.size;
  }

  /** What the target sends stops reaching the clients; what clients send still flows to it. */
  silenceTarget(): void {
    this.silentNow = true;
    for (const p of this.pairs) p.upstream?.pause();
  }

  cut(): void {
    this.cutNow = true;
    this.silentNow = false;
    for (const p of this.pairs) {
      p.client.pause();
      p.upstream?.pause();
    }
  }

  restore(): void {
    this.cutNow = false;
    this.silentNow = false;
    for (const p of this.pairs) {
      if (p.client.destroyed) continue;
      if (!p.upstream) this.connect(p);
      p.client.resume();
      p.upstream?.resume();
    }
  }

  sever(): void {
    for (const p of [...this.pairs]) this.drop(p, true);
  }

  resetCounters(): void {
    this.bytesUp = 0;
    this.bytesDown = 0;
  }

  async close(): Promise<void> {
    this.sever();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.connections++;
    const pair: Pair = { client, upstream: undefined };
    this.pairs.add(pair);
    client.on('error', () => this.drop(pair, false));
    client.on('close', () => this.drop(pair, false));
    client.on('data', (chunk: Buffer) => {
      this.bytesUp += chunk.length;
      if (pair.upstream && !pair.upstream.write(chunk)) client.pause();
    });
    if (this.cutNow) client.pause();
    else this.connect(pair);
  }

  private connect(pair: Pair): void {
    const [host, port] = [this.target.slice(0, this.target.lastIndexOf(':')), Number(this.target.slice(this.target.lastIndexOf(':') + 1))];
    const upstream = net.connect({ host, port, noDelay: true });
    pair.upstream = upstream;
    if (this.silentNow) upstream.pause();
    upstream.on('error', () => this.drop(pair, false));
    upstream.on('close', () => this.drop(pair, false));
    upstream.on('data', (chunk: Buffer) => {
      this.bytesDown += chunk.length;
      if (!pair.client.write(chunk)) upstream.pause();
    });
    upstream.on('drain', () => {
      if (!this.cutNow) pair.client.resume();
    });
    pair.client.on('drain', () => {
      if (!this.cutNow && !this.silentNow) upstream.resume();
    });
  }

  private drop(pair: Pair, reset: boolean): void {
    if (!this.pairs.delete(pair)) return;
    if (reset) {
      for (const socket of [pair.client, pair.upstream]) {
        if (!socket) continue;
        try {
          socket.resetAndDestroy();
        } catch {
          socket.destroy(); // not connected yet: nothing to reset
        }
      }
    } else {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
  }
}
