// A large board reaches a new peer: one note holds the automerge-paper editing trace (259,778
// changes, 104,852 characters; see traces/README.md), replayed and saved by
// `cargo run --release -p bench -- board-fixture` (cargo xtask test builds it and sets
// MESHBOARD_LARGE_BOARD). A opens it from IndexedDB; B opens the link with nothing stored and must
// receive it over real WebRTC, in chunked frames. Times are recorded, not asserted (these
// machines are noisy); bytes on the wire are asserted against the 1.1x save() target.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, describe, test } from 'node:test';
import {
  artifact, assertNoConsoleErrors, createBoard, newUser, serverAndBrowser, waitFor,
} from '../lib/harness.mjs';

const FIXTURE = process.env.MESHBOARD_LARGE_BOARD;
const TRACE = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'traces', 'automerge-paper.json.gz');
const MAX_FRAME = 16 * 1024;

/** Count what this page sends on its data channels, and what it posts to other tabs of the
 * browser (installed before the app starts). */
function countDataChannelSends() {
  const wire = { bytes: 0, frames: 0, largest: 0, tabBytes: 0 };
  window.__meshWire = wire;
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    const n = data.byteLength ?? data.size ?? data.length ?? 0;
    wire.bytes += n;
    wire.frames += 1;
    wire.largest = Math.max(wire.largest, n);
    return send.call(this, data);
  };
  const post = BroadcastChannel.prototype.postMessage;
  BroadcastChannel.prototype.postMessage = function (data) {
    wire.tabBytes += data?.byteLength ?? 0;
    return post.call(this, data);
  };
}

async function wire(user) {
  return user.page.evaluate(() => ({ ...window.__meshWire }));
}

/** Put `bytes` into the page's IndexedDB as one more saved piece of the only board there. */
async function storeBoardPiece(user, bytes) {
  return user.page.evaluate(async (b64) => {
    const piece = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const req = (r) => new Promise((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const db = await req(indexedDB.open('meshboard'));
    const keys = await req(db.transaction('chunks').objectStore('chunks').getAllKeys());
    if (keys.length === 0) throw new Error('the board is not saved yet');
    const room = keys[0][0];
    const tx = db.transaction('chunks', 'readwrite');
    tx.objectStore('chunks').put(piece, [room, 'fixture', 0]);
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
    db.close();
    return room;
  }, Buffer.from(bytes).toString('base64'));
}

/** The sizes of the saved pieces of the boards in this page's IndexedDB. */
async function storedPieces(user) {
  return user.page.evaluate(async () => {
    const req = (r) => new Promise((resolve, reject) => {
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const db = await req(indexedDB.open('meshboard'));
    const pieces = await req(db.transaction('chunks').objectStore('chunks').getAll());
    db.close();
    return pieces.map((p) => p.byteLength);
  });
}

async function noteLength(user) {
  const note = user.by('note-text').first();
  if ((await note.count()) === 0) return -1;
  return (await note.inputValue()).length;
}

describe('a board with a 260k-change note', () => {
  const env = serverAndBrowser();
  let a, b;
  afterEach(() => assertNoConsoleErrors(assert, a, b));

  test('reaches a new peer in chunked frames, at about the size of save()', async () => {
    assert.ok(FIXTURE, 'MESHBOARD_LARGE_BOARD is set (cargo xtask test builds the board)');
    const saved = fs.readFileSync(FIXTURE);
    const expected = JSON.parse(zlib.gunzipSync(fs.readFileSync(TRACE))).endContent;
    assert.equal(expected.length, 104852);

    a = await newUser(env.browser, 'A');
    b = await newUser(env.browser, 'B');
    await a.context.addInitScript(countDataChannelSends);
    await b.context.addInitScript(countDataChannelSends);

    const link = await createBoard(a, env.server.url);
    await waitFor('A has saved its new board', () => a.page.evaluate(async () => {
      const db = await new Promise((resolve, reject) => {
        const r = indexedDB.open('meshboard');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const n = await new Promise((resolve) => {
        const r = db.transaction('chunks').objectStore('chunks').count();
        r.onsuccess = () => resolve(r.result);
      });
      db.close();
      return n > 0;
    }));
    await storeBoardPiece(a, saved);

    // A: load the document locally (page load, wasm start, IndexedDB, Automerge load, render)
    let t = Date.now();
    await a.page.reload();
    await waitFor('A shows the whole note', async () => (await noteLength(a)) === expected.length, 60000);
    const localLoadMs = Date.now() - t;
    assert.equal(await a.by('note-text').first().inputValue(), expected);

    // B has opened Meshboard before, as A has (A's reload above finds the app in its caches): a
    // first visit ever also downloads and compiles the app, measured apart
    t = Date.now();
    await b.page.goto(env.server.url + '/');
    await b.by('new-board').waitFor();
    const appFirstStartMs = Date.now() - t;

    // B: the same, but from the network: signaling, WebRTC, chunked frames, Automerge load
    t = Date.now();
    await b.page.goto(link);
    await waitFor('B shows the whole note', async () => (await noteLength(b)) === expected.length, 60000);
    const joinMs = Date.now() - t;
    assert.equal(await b.by('note-text').first().inputValue(), expected);

    // what B received is stored as it came (a snapshot), not re-encoded change by change
    await waitFor('B has saved the board', async () => (await b.by('save-status').textContent()) === 'Saved');
    const bStored = await storedPieces(b);

    const fromA = await wire(a);
    const fromB = await wire(b);
    const result = {
      saveBytes: saved.length,
      wireBytesAtoB: fromA.bytes,
      wireBytesBtoA: fromB.bytes,
      framesAtoB: fromA.frames,
      largestFrame: Math.max(fromA.largest, fromB.largest),
      wireOverSave: +(fromA.bytes / saved.length).toFixed(3),
      localLoadMs,
      joinMs,
      joinMinusLocalMs: joinMs - localLoadMs,
      appFirstStartMs,
      tabBytesA: fromA.tabBytes,
      bStoredBytes: bStored.reduce((x, y) => x + y, 0),
      bStoredPieces: bStored.length,
    };
    console.log('large board join:', JSON.stringify(result));
    fs.writeFileSync(artifact('large-join.json'), JSON.stringify(result, null, 2) + '\n');
    await b.page.screenshot({ path: artifact('large-board.png') });

    assert.ok(fromA.largest <= MAX_FRAME, `A's largest frame is ${fromA.largest} bytes`);
    assert.ok(fromA.frames > saved.length / MAX_FRAME, 'the document went out in chunks');
    assert.ok(fromA.bytes <= 1.1 * saved.length, `${fromA.bytes} bytes on the wire for a save() of ${saved.length}`);
    // A's page, alone in its browser, loaded the board from storage: it tells other tabs it is
    // there, not the board's whole history
    assert.ok(fromA.tabBytes < 1024, `A posted ${fromA.tabBytes} bytes to other tabs`);
    assert.ok(result.bStoredBytes <= 1.1 * saved.length, `B stored ${result.bStoredBytes} bytes in ${bStored.length} pieces for a save() of ${saved.length}`);
  });
});
