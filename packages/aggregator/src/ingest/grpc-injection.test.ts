import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { limitReadAhead, STREAM_READ_AHEAD } from './grpc-injection.js';

/** A stand-in for grpc-js's call stream: object mode, and each _read asks the peer for one more message. */
function callStream() {
  let asked = 0;
  const stream = new Duplex({
    objectMode: true,
    read() {
      asked++;
      // The peer always has more: a message arrives for every read request.
      setImmediate(() => stream.push({ batch: asked }));
    },
    write(_chunk, _encoding, done) {
      done();
    },
  });
  return { stream, asked: () => asked };
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

test('a bounded call reads ahead only as many messages as allowed while nobody consumes them', async () => {
  const unbounded = callStream();
  unbounded.stream.on('readable', () => undefined); // start reading, never consume
  await settle();
  const bounded = callStream();
  limitReadAhead(bounded.stream, 2);
  bounded.stream.on('readable', () => undefined);
  await settle();
  assert.equal(bounded.stream.readableHighWaterMark, 2);
  assert.equal(bounded.stream.readableLength, 2);
  assert.equal(unbounded.stream.readableLength, 16, "Node's default read-ahead for object streams, what grpc-js calls get");
  bounded.stream.read();
  await settle();
  assert.equal(bounded.stream.readableLength, 2, 'one consumed, one more read');
  assert.equal(bounded.asked(), 3);
});

test('with the service default, a call asks its peer for the next message only when its reader wants one', async () => {
  const call = callStream();
  limitReadAhead(call.stream);
  assert.equal(STREAM_READ_AHEAD, 0);
  await settle();
  assert.equal(call.asked(), 0, 'nothing asked of the peer before anyone reads');
  const received: unknown[] = [];
  for await (const message of call.stream) {
    received.push(message);
    if (received.length === 3) break;
    await settle(); // the reader works on its message: nothing more is asked for meanwhile
    assert.equal(call.stream.readableLength, 0);
    assert.equal(call.asked(), received.length);
  }
  assert.deepEqual(received, [{ batch: 1 }, { batch: 2 }, { batch: 3 }]);
});

test('a stream that is not an object-mode readable is refused loudly (grpc-js internals moved)', () => {
  assert.throws(() => limitReadAhead({}), /internals moved/);
  assert.throws(() => limitReadAhead(new Duplex({ read() {}, write(_c, _e, d) { d(); } })), /internals moved/);
});
