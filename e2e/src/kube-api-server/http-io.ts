// Reading request bodies and writing JSON / Status responses the way the real server frames them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeProtobufBody, isProtobuf } from './protobuf.js';
import { ApiError, badRequest } from './status.js';

// The real server refuses request bodies over 3 MiB (etcd's value limit is about 1.5 MiB).
const MAX_BODY_BYTES = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'RequestEntityTooLarge', 'the request is too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function parseJsonBody(raw: Buffer, contentType: string | undefined): unknown {
  const type = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  if (isProtobuf(contentType)) return decodeProtobufBody(raw);
  if (type.includes('protobuf') || type === 'application/cbor') {
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got ${type})`);
  }
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    // JSON is also what kubectl and client-node send for YAML content types; real YAML is not parsed here.
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

export function sendText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  const headers: Record<string, string> = {};
  if (err.details?.retryAfterSeconds) headers['Retry-After'] = String(err.details.retryAfterSeconds);
  const text = JSON.stringify(err.toStatus());
  res.writeHead(err.code, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}
