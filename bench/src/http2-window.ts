// A preload for sensitivity runs (`node --import .../http2-window.js`): every HTTP/2 server created in the process
// advertises a larger receive window (BENCH_HTTP2_WINDOW bytes, 8 MiB by default) for each stream and for the
// connection, instead of HTTP/2's default 64 KiB. grpc-js servers take Node's defaults and offer no setting for it;
// with the default, one stream's upload is bounded by 64 KiB per round trip through the receiver's event loop.
// Used by the benchmarks only (BENCH_CLOUD_HTTP2_WINDOW=1): it tells whether that window is what bounds the uplink.
import http2 from 'node:http2';

const window = Number(process.env.BENCH_HTTP2_WINDOW ?? 8 * 1024 * 1024);
type CreateServer = (options: http2.ServerOptions, handler?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void) => http2.Http2Server;
const original = http2.createServer as unknown as CreateServer;
(http2 as unknown as { createServer: CreateServer }).createServer = function (options, handler) {
  const server = original.call(http2, { ...options, settings: { ...options?.settings, initialWindowSize: window } }, handler);
  server.on('session', (session) => {
    try {
      session.setLocalWindowSize(window);
    } catch {
      // an old Node without setLocalWindowSize: the stream window still applies
    }
  });
  return server;
};
