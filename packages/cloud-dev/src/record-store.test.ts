import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { readStoreSummary, RecordStore, storeFile } from './record-store.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'record-store-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const linesOf = (stream: 'logs' | 'flows') =>
  fs.readFileSync(storeFile(dir, stream), 'utf8').split('\n').filter((l) => l !== '');

describe('record store', () => {
  it('appends one line per message, in order, per stream file, and counts them in summary.json', async () => {
    const store = await RecordStore.open({ dir, describe: () => ({ openStreams: { logs: 1 } }) });
    for (let i = 0; i < 1000; i++) store.append('logs', JSON.stringify({ i }));
    store.append('flows', JSON.stringify({ f: 1 }));
    await store.flush();
    assert.deepEqual(linesOf('logs').map((l) => (JSON.parse(l) as { i: number }).i), [...Array(1000).keys()]);
    assert.equal(linesOf('flows').length, 1);
    const summary = await readStoreSummary(dir);
    assert.deepEqual(summary?.messages, { data: 0, control: 0, flows: 1, events: 0, logs: 1000 });
    assert.equal(summary?.droppedMessages, 0);
    assert.deepEqual(summary?.['openStreams'], { logs: 1 });
    await store.close();
  });

  it('flushes on its own within the flush interval', async () => {
    const store = await RecordStore.open({ dir, flushIntervalMs: 20 });
    store.append('logs', '{"a":1}');
    const deadline = Date.now() + 2000;
    while (!fs.existsSync(storeFile(dir, 'logs')) || linesOf('logs').length === 0) {
      assert.ok(Date.now() < deadline, 'line was not flushed');
      await new Promise((r) => setTimeout(r, 10));
    }
    await store.close();
  });

  it('asks the writer to wait once the buffer is full, and releases it when the batch is on disk', async () => {
    const store = await RecordStore.open({ dir, flushIntervalMs: 60_000, maxBufferedBytes: 1000 });
    const line = 'x'.repeat(99); // 100 bytes with its newline
    for (let i = 0; i < 9; i++) assert.equal(store.append('logs', line), undefined);
    const wait = store.append('logs', line);
    assert.ok(wait instanceof Promise, 'the 10th line fills the buffer');
    await wait;
    assert.equal(linesOf('logs').length, 10);
    await store.close();
  });

  it('writes everything buffered at close', async () => {
    const store = await RecordStore.open({ dir, flushIntervalMs: 60_000 });
    for (let i = 0; i < 50; i++) store.append('logs', `{"i":${i}}`);
    await store.close();
    assert.equal(linesOf('logs').length, 50);
    assert.equal((await readStoreSummary(dir))?.messages.logs, 50);
    assert.throws(() => store.append('logs', '{}'), /closed/);
  });

  it('counts the lines already on disk when reopened, and ends a partial last line left by a crash', async () => {
    fs.writeFileSync(storeFile(dir, 'logs'), '{"a":1}\n{"a":2}\n{"a":');
    const store = await RecordStore.open({ dir });
    store.append('logs', '{"a":3}');
    await store.close();
    assert.deepEqual(linesOf('logs'), ['{"a":1}', '{"a":2}', '{"a":', '{"a":3}']);
    assert.equal((await readStoreSummary(dir))?.messages.logs, 4);
  });

  it('counts and reports lines lost to a failed write, and keeps going', async () => {
    const failures: Array<{ file: string; dropped: number }> = [];
    const store = await RecordStore.open({ dir, flushIntervalMs: 60_000, onWriteError: (file, _err, dropped) => failures.push({ file, dropped }) });
    // Simulate a disk failure on one stream: its file handle goes away under the store.
    await (store as unknown as { files: Record<string, fs.promises.FileHandle> }).files['flows']!.close();
    store.append('flows', '{"lost":1}');
    store.append('flows', '{"lost":2}');
    store.append('logs', '{"kept":1}');
    await store.flush();
    assert.deepEqual(failures, [{ file: storeFile(dir, 'flows'), dropped: 2 }]);
    assert.equal(store.dropped, 2);
    assert.equal(linesOf('logs').length, 1);
    assert.equal((await readStoreSummary(dir))?.droppedMessages, 2);
    (store as unknown as { files: Record<string, unknown> }).files['flows'] = await fs.promises.open(storeFile(dir, 'flows'), 'a');
    await store.close();
  });
});
