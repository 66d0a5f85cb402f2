// One gRPC server-streaming call, with HTTP/2 spoken here over a plain socket (unix, TCP, or TLS with ALPN h2).
// Why not grpc-js, nor node:http2: Hubble sends one GetFlowsResponse per flow, each in its own DATA frame. grpc-js
// (with nice-grpc's async iterator) costs ~30 µs of CPU per message on the benchmark machine; node:http2 still calls
// into JavaScript once per DATA frame (a Buffer, a stream push, a tick), 15-19 µs per flow for the whole agent. Here
// one socket read (up to 64 KiB, ~160 flows) is one call: frames are cut in place and each message is handed to
// `onMessage` as a range of the bytes read, copied only when it spans two reads (docs/BENCHMARKS.md).
// The wire: HTTP/2 (RFC 9113) with prior knowledge on plaintext, ALPN h2 on TLS; headers with HPACK (hpack.ts); the
// gRPC HTTP/2 protocol (PROTOCOL-HTTP2.md): POST, content-type application/grpc, te: trailers, 5-byte message prefix
// (compressed flag 0, big-endian length), grpc-status / grpc-message in trailers (or in a trailers-only response).
// Flow control: the receive windows are opened wide and given back as frames are read (reading is synchronous, so
// what is read is consumed); the server's own windows do not matter, the only thing sent is a small request.
import net from 'node:net';
import tls from 'node:tls';
import { encodeLiteralHeaders, HpackDecoder, type HeaderList } from './hpack.js';

export interface H2Tls {
  ca: Buffer;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  serverName?: string | undefined;
}

export class GrpcCallError extends Error {
  constructor(
    readonly code: number,
    details: string,
  ) {
    super(`gRPC status ${code}${details ? `: ${details}` : ''}`);
    this.name = 'GrpcCallError';
  }
}

const MAX_MESSAGE = 16 * 1024 * 1024;
/** The receive window of the stream and of the connection; given back once a quarter of it was read. */
const WINDOW = 8 * 1024 * 1024;
const MAX_HEADER_BLOCK = 64 * 1024;
/** SETTINGS_MAX_FRAME_SIZE left at its default: frames larger than this are a protocol error. */
const MAX_FRAME = 16 * 1024;
const PING_EVERY_MS = 30_000;
const STREAM = 1;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const enum FrameType {
  Data = 0,
  Headers = 1,
  RstStream = 3,
  Settings = 4,
  PushPromise = 5,
  Ping = 6,
  GoAway = 7,
  WindowUpdate = 8,
  Continuation = 9,
}
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const SETTINGS_ENABLE_PUSH = 0x2;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const NO_ERROR = 0;
const CANCEL = 0x8;

function frame(type: number, flags: number, stream: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const f = Buffer.allocUnsafe(9 + payload.length);
  f.writeUIntBE(payload.length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(stream, 5);
  f.set(payload, 9);
  return f;
}

function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value, 0);
  return b;
}

class H2ProtocolError extends Error {
  constructor(message: string) {
    super(`HTTP/2 protocol error: ${message}`);
    this.name = 'H2ProtocolError';
  }
}

/**
 * Cuts the gRPC messages out of the stream's DATA bytes. A message whole inside the bytes given is handed out as a
 * range of them (no copy); one that spans DATA frames or socket reads is gathered in a buffer kept for the next.
 */
class MessageCutter {
  private readonly head = Buffer.alloc(5);
  private headHave = 0;
  private body = Buffer.allocUnsafe(64 * 1024);
  /** The length of the message being gathered, or -1 while its 5-byte prefix is not complete. */
  private bodyLen = -1;
  private bodyHave = 0;

  constructor(private readonly onMessage: (buf: Buffer, start: number, end: number) => void) {}

  /** True between messages: the stream may end here. */
  get idle(): boolean {
    return this.headHave === 0 && this.bodyLen < 0;
  }

  push(buf: Buffer, start: number, end: number): void {
    let at = start;
    while (at < end) {
      if (this.bodyLen < 0) {
        let len: number;
        if (this.headHave === 0 && end - at >= 5) {
          len = this.prefix(buf, at);
          at += 5;
          if (end - at >= len) {
            this.onMessage(buf, at, at + len);
            at += len;
            continue;
          }
        } else {
          const n = Math.min(5 - this.headHave, end - at);
          buf.copy(this.head, this.headHave, at, at + n);
          this.headHave += n;
          at += n;
          if (this.headHave < 5) return;
          this.headHave = 0;
          len = this.prefix(this.head, 0);
        }
        this.bodyLen = len;
        this.bodyHave = 0;
        if (this.body.length < len) this.body = Buffer.allocUnsafe(len);
        if (len > 0) continue;
      } else {
        const n = Math.min(this.bodyLen - this.bodyHave, end - at);
        buf.copy(this.body, this.bodyHave, at, at + n);
        this.bodyHave += n;
        at += n;
      }
      if (this.bodyHave === this.bodyLen) {
        const len = this.bodyLen;
        this.bodyLen = -1;
        this.onMessage(this.body, 0, len);
      }
    }
  }

  private prefix(buf: Buffer, at: number): number {
    if (buf[at] !== 0) throw new GrpcCallError(13, 'compressed message (no compression was offered)');
    const len = buf.readUInt32BE(at + 1);
    if (len > MAX_MESSAGE) throw new GrpcCallError(8, `message of ${len} bytes is over the ${MAX_MESSAGE}-byte limit`);
    return len;
  }
}

/** Bytes read per socket read, into one buffer reused for every read (`onread`: no Buffer and no stream push each). */
const READ_BUFFER = 64 * 1024;
/**
 * A read smaller than this drained the socket: reading waits COALESCE_MS before the next one, so that a moderate
 * flow rate (where Hubble flushes every flow on its own) is read many flows at a time instead of a wake-up (epoll, a
 * read, a call into JavaScript) every few flows: fed ~15,000 flows/s one frame at a time, the agent spent 16-17 µs
 * of CPU per flow without the pause and ~10 µs with it (docs/BENCHMARKS.md). The delay is far below a flow window;
 * the 8 MiB HTTP/2 window holds ~20,000 flows meanwhile.
 */
const COALESCE_BELOW = READ_BUFFER / 2;
const COALESCE_MS = 5;

/** `onRead` returns false to have reading paused (it resumes the socket itself). */
function connect(address: string, tlsOptions: H2Tls | undefined, onRead: (chunk: Buffer) => boolean): { socket: net.Socket; authority: string; scheme: string } {
  const buffer = Buffer.allocUnsafe(READ_BUFFER);
  // Whatever a read put in `buffer` is used before the callback returns (copied where it must wait for more).
  const onread = { buffer, callback: (n: number, buf: Uint8Array) => onRead((buf as Buffer).subarray(0, n)) };
  if (address.startsWith('unix://')) return { socket: net.connect({ path: address.slice('unix://'.length), onread }), authority: 'localhost', scheme: 'http' };
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  if (!tlsOptions) return { socket: net.connect({ host, port, onread }), authority: address, scheme: 'http' };
  const socket = tls.connect({ host, port, ca: tlsOptions.ca, cert: tlsOptions.cert, key: tlsOptions.key, servername: tlsOptions.serverName ?? (net.isIP(host) ? undefined : host), ALPNProtocols: ['h2'] });
  // tls.connect's typings know no `onread`: a TLS stream (Relay) is read through 'data' events.
  socket.on('data', (chunk: Buffer) => {
    if (!onRead(chunk)) socket.pause();
  });
  socket.once('secureConnect', () => {
    // A server that did not agree to HTTP/2 would read our frames as garbage.
    if (socket.alpnProtocol !== 'h2') socket.destroy(new Error(`the server did not agree to HTTP/2 over TLS (ALPN: ${socket.alpnProtocol || 'none'})`));
  });
  return { socket, authority: address, scheme: 'https' };
}

/**
 * Calls `path` with `request` (an encoded message) and hands every response message to `onMessage` as a range of a
 * buffer that is reused after the call returns (copy what must outlive it). Resolves when the server ends the call
 * with status 0; rejects with GrpcCallError for another status, or with the connection's error. Aborting the signal
 * cancels the call.
 */
export function serverStreamingCall(address: string, tlsOptions: H2Tls | undefined, path: string, request: Uint8Array, signal: AbortSignal, onMessage: (buf: Buffer, start: number, end: number) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    let resumeTimer: NodeJS.Timeout | undefined;
    const { socket, authority, scheme } = connect(address, tlsOptions, (chunk) => {
      try {
        onData(chunk);
      } catch (err) {
        finish(err);
        return false;
      }
      if (settled || chunk.length >= COALESCE_BELOW) return true;
      resumeTimer = setTimeout(() => {
        resumeTimer = undefined;
        if (!settled) socket.resume();
      }, COALESCE_MS);
      return false;
    });
    const hpack = new HpackDecoder();
    const messages = new MessageCutter(onMessage);
    let settled = false;
    let pingUnanswered = false;

    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearInterval(ping);
      clearTimeout(resumeTimer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => {
      if (!settled && socket.writable) socket.write(frame(FrameType.RstStream, 0, STREAM, u32(CANCEL)));
      finish(signal.reason ?? new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // A peer that vanished without closing (a Relay behind a dropped NAT entry) shows as a ping without answer.
    const ping = setInterval(() => {
      if (pingUnanswered) return finish(new Error(`keepalive ping failed: no answer within ${PING_EVERY_MS / 1000} s`));
      pingUnanswered = true;
      socket.write(frame(FrameType.Ping, 0, 0, Buffer.alloc(8)));
    }, PING_EVERY_MS);
    ping.unref();

    // The connection preface, our settings, the connection window opened, then the request (headers + one message).
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(SETTINGS_ENABLE_PUSH, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(SETTINGS_INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(WINDOW, 8);
    const headers = encodeLiteralHeaders([
      [':method', 'POST'],
      [':scheme', scheme],
      [':path', path],
      [':authority', authority],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ['user-agent', 'kestrel-flows/0.2'],
    ]);
    const message = Buffer.allocUnsafe(5 + request.length);
    message[0] = 0;
    message.writeUInt32BE(request.length, 1);
    message.set(request, 5);
    // Sent before the server's settings arrive: within the default frame size and window (a GetFlowsRequest is tiny).
    if (message.length > MAX_FRAME) return finish(new GrpcCallError(8, `a request of ${request.length} bytes is over the ${MAX_FRAME - 5}-byte limit of this client`));
    socket.write(Buffer.concat([PREFACE, frame(FrameType.Settings, 0, 0, settings), frame(FrameType.WindowUpdate, 0, 0, u32(WINDOW - 65_535)), frame(FrameType.Headers, END_HEADERS, STREAM, headers), frame(FrameType.Data, END_STREAM, STREAM, message)]));

    // The call's state.
    let status: number | undefined;
    let details = '';
    let responded = false;
    /** DATA bytes read and not yet given back to the server's windows (connection and stream alike). */
    let unacked = 0;
    let goAwayNoError = false;

    const onHeaders = (list: HeaderList, endStream: boolean) => {
      const get = (name: string) => list.find(([n]) => n === name)?.[1];
      if (!responded) {
        responded = true;
        const code = Number(get(':status'));
        if (code !== 200) throw new GrpcCallError(14, `HTTP status ${get(':status') ?? 'missing'}`);
      } else if (!endStream) throw new H2ProtocolError('trailers without END_STREAM');
      const s = get('grpc-status');
      if (s !== undefined) {
        status = Number(s);
        const message = get('grpc-message') ?? '';
        try {
          details = decodeURIComponent(message);
        } catch {
          details = message;
        }
      }
    };
    const onEnd = () => {
      if (!messages.idle) throw new GrpcCallError(13, 'the stream ended inside a message');
      if (status === undefined) throw new GrpcCallError(14, 'the stream ended without a status');
      if (status !== 0) throw new GrpcCallError(status, details);
      finish();
    };

    // Frame reading. A frame's 9-byte header may span reads (kept in `head`); a DATA frame's payload is read as it
    // comes, in place; any other frame's payload is gathered whole (`payload`) when it spans reads.
    const head = Buffer.alloc(9);
    let headHave = 0;
    let inFrame = false;
    let type = 0;
    let flags = 0;
    let streamId = 0;
    let length = 0;
    let remaining = 0;
    /** DATA: the pad-length byte is still to come; then how many message bytes and padding bytes are left. */
    let needPadLength = false;
    let dataLeft = 0;
    let payload: Buffer | undefined;
    let payloadHave = 0;
    /** The header block being gathered across HEADERS + CONTINUATION frames, with the HEADERS frame's END_STREAM. */
    let block: Buffer[] | undefined;
    let blockBytes = 0;
    let blockEndStream = false;

    const startFrame = (h: Buffer, at: number) => {
      length = h.readUIntBE(at, 3);
      type = h[at + 3]!;
      flags = h[at + 4]!;
      streamId = h.readUInt32BE(at + 5) & 0x7fffffff;
      remaining = length;
      inFrame = true;
      if (length > MAX_FRAME) throw new H2ProtocolError(`a frame of ${length} bytes (limit ${MAX_FRAME})`);
      if (block && type !== FrameType.Continuation) throw new H2ProtocolError('a header block interrupted by another frame');
      if (type === FrameType.Data) {
        if (streamId !== STREAM) throw new H2ProtocolError(`DATA on stream ${streamId}`);
        if (!responded) throw new H2ProtocolError('DATA before the response headers');
        unacked += length;
        needPadLength = (flags & PADDED) !== 0;
        dataLeft = needPadLength ? -1 : length;
      }
    };
    const endData = () => {
      if (dataLeft > 0 || needPadLength) throw new H2ProtocolError('padding longer than the DATA frame');
      if (flags & END_STREAM) onEnd();
    };
    const onFrame = (p: Buffer, s: number, e: number) => {
      switch (type) {
        case FrameType.Headers: {
          if (streamId !== STREAM) throw new H2ProtocolError(`HEADERS on stream ${streamId}`);
          let from = s;
          let to = e;
          if (flags & PADDED) {
            if (from >= to) throw new H2ProtocolError('HEADERS too short for its padding');
            to -= p[from++]!;
          }
          if (flags & PRIORITY) from += 5;
          if (from > to) throw new H2ProtocolError('HEADERS too short');
          blockEndStream = (flags & END_STREAM) !== 0;
          block = [Buffer.from(p.subarray(from, to))];
          blockBytes = to - from;
          if (flags & END_HEADERS) endBlock();
          return;
        }
        case FrameType.Continuation: {
          if (!block || streamId !== STREAM) throw new H2ProtocolError('CONTINUATION without HEADERS');
          block.push(Buffer.from(p.subarray(s, e)));
          blockBytes += e - s;
          if (blockBytes > MAX_HEADER_BLOCK) throw new H2ProtocolError(`a header block over ${MAX_HEADER_BLOCK} bytes`);
          if (flags & END_HEADERS) endBlock();
          return;
        }
        case FrameType.Settings:
          if (streamId !== 0 || (e - s) % 6 !== 0) throw new H2ProtocolError('malformed SETTINGS');
          if (!(flags & ACK)) socket.write(frame(FrameType.Settings, ACK, 0));
          return;
        case FrameType.Ping:
          if (e - s !== 8) throw new H2ProtocolError('malformed PING');
          if (flags & ACK) pingUnanswered = false;
          else socket.write(frame(FrameType.Ping, ACK, 0, p.subarray(s, e)));
          return;
        case FrameType.RstStream:
          if (streamId !== STREAM) return;
          if (e - s !== 4) throw new H2ProtocolError('malformed RST_STREAM');
          throw new GrpcCallError(14, `the stream ended without a status (HTTP/2 code ${p.readUInt32BE(s)})`);
        case FrameType.GoAway: {
          if (e - s < 8) throw new H2ProtocolError('malformed GOAWAY');
          const lastStream = p.readUInt32BE(s) & 0x7fffffff;
          const code = p.readUInt32BE(s + 4);
          // A graceful GOAWAY that covers our stream lets it finish; anything else ends the call now.
          if (code === NO_ERROR && lastStream >= STREAM) {
            goAwayNoError = true;
            return;
          }
          throw new GrpcCallError(14, `the server closed the connection (GOAWAY, HTTP/2 code ${code}${e - s > 8 ? `: ${p.toString('latin1', s + 8, e)}` : ''})`);
        }
        case FrameType.PushPromise:
          throw new H2ProtocolError('PUSH_PROMISE although push was turned off');
        default:
          // PRIORITY, WINDOW_UPDATE (only a small request is sent) and unknown types are ignored, as the RFC says.
          return;
      }
    };
    const endBlock = () => {
      const whole = block!.length === 1 ? block![0]! : Buffer.concat(block!);
      block = undefined;
      onHeaders(hpack.decode(whole), blockEndStream);
      if (blockEndStream) onEnd();
    };

    const onData = (chunk: Buffer) => {
      let at = 0;
      const end = chunk.length;
      while (at < end && !settled) {
        if (!inFrame) {
          if (headHave === 0 && end - at >= 9) {
            startFrame(chunk, at);
            at += 9;
          } else {
            const n = Math.min(9 - headHave, end - at);
            chunk.copy(head, headHave, at, at + n);
            headHave += n;
            at += n;
            if (headHave < 9) break;
            headHave = 0;
            startFrame(head, 0);
          }
        }
        if (type === FrameType.Data) {
          if (needPadLength && remaining > 0 && at < end) {
            const pad = chunk[at++]!;
            remaining--;
            needPadLength = false;
            dataLeft = remaining - pad;
            if (dataLeft < 0) throw new H2ProtocolError('padding longer than the DATA frame');
          }
          const n = Math.min(remaining, end - at);
          const take = Math.min(n, Math.max(0, dataLeft));
          if (take > 0) messages.push(chunk, at, at + take);
          dataLeft -= take;
          remaining -= n;
          at += n;
          if (remaining === 0) {
            inFrame = false;
            endData();
          }
          continue;
        }
        if (payload === undefined && end - at >= remaining) {
          inFrame = false;
          onFrame(chunk, at, at + remaining);
          at += remaining;
          continue;
        }
        payload ??= Buffer.allocUnsafe(length);
        const n = Math.min(remaining, end - at);
        chunk.copy(payload, payloadHave, at, at + n);
        payloadHave += n;
        remaining -= n;
        at += n;
        if (remaining === 0) {
          const p = payload;
          payload = undefined;
          payloadHave = 0;
          inFrame = false;
          onFrame(p, 0, p.length);
        }
      }
      // Give the read bytes back to both windows in one update once a quarter of the window was used.
      if (!settled && unacked >= WINDOW / 4) {
        socket.write(Buffer.concat([frame(FrameType.WindowUpdate, 0, 0, u32(unacked)), frame(FrameType.WindowUpdate, 0, STREAM, u32(unacked))]));
        unacked = 0;
      }
    };

    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(goAwayNoError ? new GrpcCallError(14, 'the server went away (GOAWAY) before the call ended') : new Error('the connection closed before the call ended')));
  });
}
