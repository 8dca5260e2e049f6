// `cargo xtask bench`: Meshboard side by side with an anchor page made of Yjs 13.6 + y-webrtc 10.3
// (anchor/anchor.js, same UI contract), both driven in one run by the system Chromium.
//
//   node e2e/bench/side-by-side.mjs --out results.json [--smoke]
//
// Needs MESHBOARD_SERVER_BIN, MESHBOARD_DIST (as the e2e tests) and MESHBOARD_LARGE_BOARD (the
// trace board saved by `bench board-fixture`, of the first --txns transactions of the trace).
// Every measurement has a timeout; one that fails becomes a row that says why, never a crash.
// The JSON it writes: { meta, rows: [{ id, what, unit, mesh, yjs }] }, each side either
// { value, note? } or { failed }.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import * as Y from 'yjs';
import { createBoard, launchBrowser, newUser, startServer } from '../lib/harness.mjs';

const HERE = path.dirname(new URL(import.meta.url).pathname);
const TRACE = path.join(HERE, '..', '..', 'traces', 'automerge-paper.json.gz');
const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    txns: { type: 'string' },
  },
});
const SMOKE = args.smoke;
const CFG = SMOKE
  ? { smallKeys: 20, traceKeys: 10, loads: 1, txns: Number(args.txns ?? 2000), keyTimeout: 5000, joinTimeout: 30000, roomPages: 3, roomKeys: 5 }
  : { smallKeys: 200, traceKeys: 100, loads: 5, txns: Number(args.txns ?? Infinity), keyTimeout: 5000, joinTimeout: 30000, roomPages: 32, roomKeys: 60 };
const FIXTURE = process.env.MESHBOARD_LARGE_BOARD;

const log = (...a) => console.log('[bench]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rows = [];
const row = (id, what, unit) => {
  const r = { id, what, unit, mesh: { failed: 'not measured' }, yjs: { failed: 'not measured' } };
  rows.push(r);
  return r;
};
const ok = (value, note) => (note ? { value, note } : { value });
const fail = (e) => ({ failed: String(e?.message ?? e).split('\n')[0].slice(0, 200) });

/** `fn()`, or an error after `ms`. */
async function within(ms, what, fn) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result in ${ms / 1000} s`)), ms); });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what, fn, ms = 20000) {
  const start = Date.now();
  for (;;) {
    try { if (await fn()) return; } catch { /* page busy or navigating */ }
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(20);
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const median = (xs) => pct(xs, 50);

// ---------------------------------------------------------------- servers

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

/** y-webrtc's own signaling server on a free port. */
async function startYWebrtcSignaling() {
  const port = await freePort();
  const bin = path.join(HERE, 'node_modules', 'y-webrtc', 'bin', 'server.js');
  const child = spawn(process.execPath, [bin], { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => child.on('exit', r));
  await until('y-webrtc signaling to listen', () => new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
    c.on('error', () => resolve(false));
  }), 15000);
  return {
    url: `ws://127.0.0.1:${port}`,
    async stop() { child.kill('SIGTERM'); const k = setTimeout(() => child.kill('SIGKILL'), 5000); await exited; clearTimeout(k); },
  };
}

/** The anchor page, bundled now, from a tiny static server (gzip when asked, as Meshboard's). */
async function startAnchor(signalingUrl) {
  const built = await esbuild.build({
    entryPoints: [path.join(HERE, 'anchor', 'anchor.js')],
    bundle: true, minify: true, format: 'esm', target: 'es2022', write: false,
    define: { SIGNALING: JSON.stringify(signalingUrl), global: 'globalThis' },
    logLevel: 'warning',
  });
  const js = Buffer.from(built.outputFiles[0].contents);
  const html = fs.readFileSync(path.join(HERE, 'anchor', 'index.html'));
  const files = {
    '/': { body: html, type: 'text/html; charset=utf-8', cache: 'no-cache' },
    '/b': { body: html, type: 'text/html; charset=utf-8', cache: 'no-cache' },
    '/anchor.js': { body: js, type: 'text/javascript', cache: 'public, max-age=31536000, immutable' },
  };
  for (const f of Object.values(files)) f.gz = zlib.gzipSync(f.body, { level: 9 });
  const server = http.createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (!f) { res.writeHead(404).end(); return; }
    const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
    res.writeHead(200, {
      'content-type': f.type, 'cache-control': f.cache, vary: 'accept-encoding',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(gzip ? f.gz : f.body);
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    jsBytes: js.length,
    jsGzipBytes: files['/anchor.js'].gz.length,
    stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

// ---------------------------------------------------------------- in the pages

/** Installed in every page before it starts: keydown and arrival clocks, long tasks, time to
 * `board-title`, and the bytes sent on data channels. Times are `performance.timeOrigin +
 * performance.now()`: one clock for every page of this browser. */
function probe() {
  const clock = () => performance.timeOrigin + performance.now();
  const p = {
    keys: [], arrivals: [], longtasks: [], target: null, arrivedAt: null, resolve: null,
    editableAt: null, wire: { bytes: 0, frames: 0, largest: 0, errors: [] },
  };
  window.__probe = p;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) p.longtasks.push({ start: performance.timeOrigin + e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch { /* no longtask support */ }
  document.addEventListener('keydown', () => p.keys.push(clock()), true);
  const check = () => {
    if (p.target === null || p.arrivedAt !== null) return;
    const ta = document.querySelector('[data-testid="note-text"]');
    if (ta && ta.value.endsWith(p.target)) {
      p.arrivedAt = clock();
      p.arrivals.push(p.arrivedAt);
      const r = p.resolve;
      p.resolve = null;
      r?.(p.arrivedAt);
    }
  };
  // the moment the text lands in the field, whichever way the app puts it there
  const desc = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value');
  Object.defineProperty(HTMLTextAreaElement.prototype, 'value', {
    ...desc, set(v) { desc.set.call(this, v); check(); },
  });
  const setRangeText = HTMLTextAreaElement.prototype.setRangeText;
  HTMLTextAreaElement.prototype.setRangeText = function (...a) { const r = setRangeText.apply(this, a); check(); return r; };
  const poll = () => { check(); requestAnimationFrame(poll); };
  requestAnimationFrame(poll);
  p.arm = (target) => { p.target = target; p.arrivedAt = null; p.resolve = null; check(); };
  p.wait = (ms) => new Promise((resolve) => {
    if (p.arrivedAt !== null) { resolve(p.arrivedAt); return; }
    p.resolve = resolve;
    setTimeout(() => resolve(null), ms);
  });
  const seen = () => {
    if (p.editableAt === null && document.querySelector('[data-testid="board-title"]')) p.editableAt = performance.now();
    return p.editableAt !== null;
  };
  const mo = new MutationObserver(() => { if (seen()) mo.disconnect(); });
  mo.observe(document, { childList: true, subtree: true });
  const send = RTCDataChannel.prototype.send;
  RTCDataChannel.prototype.send = function (data) {
    const n = data.byteLength ?? data.size ?? data.length ?? 0;
    p.wire.frames += 1;
    p.wire.largest = Math.max(p.wire.largest, n);
    try {
      const r = send.call(this, data);
      p.wire.bytes += n;
      return r;
    } catch (e) {
      p.wire.errors.push(`${n} B: ${e.message}`);
      throw e;
    }
  };
}

const wire = (u) => u.page.evaluate(() => ({ ...window.__probe.wire }));
const noteLength = (u) => u.page.evaluate(() => document.querySelector('[data-testid="note-text"]')?.value.length ?? -1);
const peers = (u) => u.page.evaluate(() => document.querySelector('[data-testid="peer-count"]')?.textContent.trim());

async function user(browser, name) {
  const u = await newUser(browser, name);
  await u.context.addInitScript(probe);
  return u;
}

// ---------------------------------------------------------------- the two apps

/** What differs between the two apps: how a board is made, opened and given a note. */
function meshApp(url) {
  return {
    name: 'Meshboard',
    url,
    async newBoard(u) { return createBoard(u, url); },
    async ensureNote(a, b) {
      if (await a.by('note-text').count() === 0) await a.by('add-note').click();
      await a.by('note-text').first().waitFor({ timeout: 15000 });
      await b.by('note-text').first().waitFor({ timeout: 15000 });
    },
    /** Put the trace board into A's storage (A has a saved board): see large.test.mjs. */
    async seed(u, bytes) {
      await until('A has saved its new board', () => u.page.evaluate(async () => {
        const db = await new Promise((resolve, reject) => {
          const r = indexedDB.open('meshboard');
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
        const n = await new Promise((resolve) => { const r = db.transaction('chunks').objectStore('chunks').count(); r.onsuccess = () => resolve(r.result); });
        db.close();
        return n > 0;
      }));
      await u.page.evaluate(async (b64) => {
        const piece = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const req = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
        const db = await req(indexedDB.open('meshboard'));
        const keys = await req(db.transaction('chunks').objectStore('chunks').getAllKeys());
        const tx = db.transaction('chunks', 'readwrite');
        tx.objectStore('chunks').put(piece, [keys[0][0], 'fixture', 0]);
        await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); });
        db.close();
      }, Buffer.from(bytes).toString('base64'));
    },
  };
}

function yjsApp(url) {
  return {
    name: 'Yjs',
    url,
    async newBoard(u) {
      await u.page.goto(url + '/');
      await u.by('new-board').click();
      await u.page.waitForURL(/\/b#[A-Za-z0-9_-]{22}$/);
      await u.by('note-text').waitFor();
      return u.page.url();
    },
    async ensureNote(a, b) {
      await a.by('note-text').waitFor({ timeout: 15000 });
      await b.by('note-text').waitFor({ timeout: 15000 });
    },
    async seed(u, bytes) {
      await u.page.evaluate((b64) => window.__yjs.apply(b64), Buffer.from(bytes).toString('base64'));
      // y-indexeddb writes every update as it happens; let that transaction finish
      await sleep(500);
    },
  };
}

// ---------------------------------------------------------------- measurements

/** Load the board link in fresh contexts (cold) and again in the same one (warm): time until
 * `board-title` exists, and the bytes the page received (CDP encodedDataLength). */
async function loads(browser, app) {
  const maker = await user(browser, `${app.name} maker`);
  const link = await app.newBoard(maker);
  await maker.context.close();
  const cold = [];
  const warm = [];
  const coldBytes = [];
  const warmBytes = [];
  for (let i = 0; i < CFG.loads; i++) {
    const u = await user(browser, `${app.name} load ${i}`);
    try {
      const cdp = await u.context.newCDPSession(u.page);
      let bytes = 0;
      cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
      await cdp.send('Network.enable');
      const editable = async () => {
        await until('board-title', () => u.page.evaluate(() => window.__probe?.editableAt !== null), 30000);
        return u.page.evaluate(() => window.__probe.editableAt);
      };
      await u.page.goto(link);
      cold.push(await editable());
      // let a service worker install and the page settle before the second load
      await u.page.evaluate(() => Promise.race([
        navigator.serviceWorker.getRegistrations().then((r) => (r.length ? navigator.serviceWorker.ready : null)),
        new Promise((r) => setTimeout(r, 5000)),
      ]));
      await sleep(1000);
      coldBytes.push(bytes);
      bytes = 0;
      await u.page.reload();
      warm.push(await editable());
      await sleep(500);
      warmBytes.push(bytes);
    } finally {
      await u.context.close();
    }
  }
  return { cold, warm, coldBytes, warmBytes };
}

/** Two users on one board, connected; then `keys` keystrokes typed at the end of A's note, each
 * timed from A's keydown until B's note ends with the text typed so far. */
async function typing(a, b, keys) {
  await until('both see one peer', async () => (await peers(a)) === '1' && (await peers(b)) === '1', 30000);
  const ta = a.by('note-text').first();
  await ta.focus();
  await a.page.evaluate(() => { const t = document.querySelector('[data-testid="note-text"]'); t.setSelectionRange(t.value.length, t.value.length); });
  const start = await a.page.evaluate(() => performance.timeOrigin + performance.now());
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const latencies = [];
  let typed = '';
  let missed = 0;
  for (let i = 0; i < keys; i++) {
    const ch = letters[i % letters.length];
    typed += ch;
    await b.page.evaluate((t) => window.__probe.arm(t), typed);
    const keyCount = await a.page.evaluate(() => window.__probe.keys.length);
    await a.page.keyboard.press(ch);
    const arrived = await b.page.evaluate((ms) => window.__probe.wait(ms), CFG.keyTimeout);
    const keyAt = await a.page.evaluate((n) => window.__probe.keys[n], keyCount);
    if (arrived === null || keyAt === undefined) {
      missed += 1;
      if (missed >= 3) throw new Error(`${missed} keystrokes did not reach B within ${CFG.keyTimeout} ms`);
      continue;
    }
    latencies.push(arrived - keyAt);
  }
  const end = await a.page.evaluate(() => performance.timeOrigin + performance.now());
  const tasks = [];
  for (const u of [a, b]) {
    const lt = await u.page.evaluate(() => window.__probe.longtasks);
    tasks.push(...lt.filter((t) => t.start >= start && t.start <= end).map((t) => t.duration));
  }
  return { latencies, missed, longtasks: tasks.length, longest: tasks.length ? Math.max(...tasks) : 0 };
}

function typingRows(prefix, what, results) {
  const r = {
    p50: row(`${prefix}_p50`, `${what}: p50`, 'ms'),
    p90: row(`${prefix}_p90`, `${what}: p90`, 'ms'),
    p99: row(`${prefix}_p99`, `${what}: p99`, 'ms'),
    lt: row(`${prefix}_longtasks`, `${what}: long tasks in A and B while typing`, 'count'),
  };
  for (const side of ['mesh', 'yjs']) {
    const x = results[side];
    if (x.failed) {
      for (const k of Object.keys(r)) r[k][side] = x;
      continue;
    }
    const note = x.missed ? `${x.missed} of ${x.latencies.length + x.missed} keys timed out` : undefined;
    r.p50[side] = ok(pct(x.latencies, 50), note);
    r.p90[side] = ok(pct(x.latencies, 90));
    r.p99[side] = ok(pct(x.latencies, 99));
    r.lt[side] = ok(x.longtasks, x.longtasks ? `longest ${x.longest.toFixed(0)} ms` : undefined);
  }
}

async function smallNote(browser, app) {
  const a = await user(browser, `${app.name} A`);
  const b = await user(browser, `${app.name} B`);
  try {
    const link = await app.newBoard(a);
    await b.page.goto(link);
    await app.ensureNote(a, b);
    return await typing(a, b, CFG.smallKeys);
  } finally {
    await a.context.close();
    await b.context.close();
  }
}

/** `CFG.roomPages` pages on one board (each a browser context: a person of its own), A typing
 * at the end of the note: each keystroke timed from A's keydown until the last of the other
 * pages shows it (the farthest, however many hops away). Also the links each page holds and the
 * bytes all pages sent on data channels per keystroke (edits, presence, acknowledgements). */
async function room(browser, app) {
  const users = [];
  try {
    for (let i = 0; i < CFG.roomPages; i++) users.push(await user(browser, `${app.name} room ${i}`));
    const [a, ...rest] = users;
    const link = await app.newBoard(a);
    for (const u of rest) await u.page.goto(link);
    await app.ensureNote(a, rest[0]);
    await until('every page shows the note', async () => {
      const counts = await Promise.all(rest.map((u) => u.by('note-text').count()));
      return counts.every((n) => n > 0);
    }, 180000);
    // the mesh settles: every page linked, and the counts still for 3 s
    let last = '';
    let stillSince = Date.now();
    await until('the links settle', async () => {
      const now = (await Promise.all(users.map(peers))).join(' ');
      if (now !== last) { last = now; stillSince = Date.now(); }
      return !now.split(' ').includes('0') && Date.now() - stillSince > 3000;
    }, 180000);
    const links = last.split(' ').map(Number);
    const ta = a.by('note-text').first();
    await ta.focus();
    await a.page.evaluate(() => { const t = document.querySelector('[data-testid="note-text"]'); t.setSelectionRange(t.value.length, t.value.length); });
    const sent = async () => (await Promise.all(users.map(wire))).reduce((n, w) => n + w.bytes, 0);
    const before = await sent();
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    const latencies = [];
    let typed = await ta.inputValue();
    let missed = 0;
    for (let i = 0; i < CFG.roomKeys; i++) {
      const ch = letters[i % letters.length];
      typed += ch;
      await Promise.all(rest.map((u) => u.page.evaluate((t) => window.__probe.arm(t), typed)));
      const keyCount = await a.page.evaluate(() => window.__probe.keys.length);
      await a.page.keyboard.press(ch);
      const arrived = await Promise.all(rest.map((u) => u.page.evaluate((ms) => window.__probe.wait(ms), CFG.keyTimeout)));
      const keyAt = await a.page.evaluate((n) => window.__probe.keys[n], keyCount);
      const late = arrived.filter((t) => t === null).length;
      if (late || keyAt === undefined) {
        missed += 1;
        if (missed >= 3) throw new Error(`${missed} keystrokes did not reach every page within ${CFG.keyTimeout} ms (the last: ${late} of ${rest.length} pages)`);
        continue;
      }
      latencies.push(Math.max(...arrived) - keyAt);
    }
    const keys = latencies.length + missed;
    return { latencies, missed, links, bytesPerKey: (await sent() - before) / keys };
  } finally {
    for (const u of users) await u.context.close().catch(() => {});
  }
}

/** The trace board: A stores it and reloads (local load), B opens the link with nothing stored
 * (cold join; bytes A sent against `saved`), then typing with both holding it. If the join does
 * not complete, B is given the board locally and both reload, so that the typing still runs. */
async function traceBoard(browser, app, saved, expected, out) {
  const a = await user(browser, `${app.name} trace A`);
  const b = await user(browser, `${app.name} trace B`);
  try {
    const link = await app.newBoard(a);
    await app.seed(a, saved);
    let t = Date.now();
    await a.page.reload();
    await until('A shows the whole note', async () => (await noteLength(a)) === expected.length, 60000);
    out.local = ok(Date.now() - t);
    // B has opened the app before, as A has
    await b.page.goto(app.url + '/');
    await b.by('new-board').waitFor();
    t = Date.now();
    await b.page.goto(link);
    try {
      await until('B shows the whole note', async () => (await noteLength(b)) === expected.length, CFG.joinTimeout);
      out.join = ok(Date.now() - t);
      const w = await wire(a);
      out.bytes = ok(w.bytes, `${(w.bytes / saved.length).toFixed(3)}× save(), ${w.frames} messages, largest ${w.largest} B`);
    } catch (e) {
      const w = await wire(a).catch(() => ({ largest: 0, errors: [] }));
      const why = w.largest > 256 * 1024
        ? `A's largest data-channel message was ${(w.largest / 1024).toFixed(0)} KiB, above Chromium's 256 KiB cap${w.errors.length ? ` (${w.errors[0]})` : ''}`
        : `B had ${await noteLength(b).catch(() => '?')} of ${expected.length} characters`;
      out.join = { failed: `did not complete in ${CFG.joinTimeout / 1000} s: ${why}` };
      out.bytes = out.join;
      log(`${app.name} trace join: ${out.join.failed}`);
      // give B the board from storage instead, and start both pages afresh (a failed send can
      // leave the old connection broken), so that both hold it for the typing
      await app.seed(b, saved);
      await b.page.reload();
      await until('B shows the whole note from storage', async () => (await noteLength(b)) === expected.length, 60000);
      await a.page.reload();
      await until('A shows the whole note again', async () => (await noteLength(a)) === expected.length, 60000);
    }
    if ((await a.by('note-text').first().inputValue()) !== expected || (await b.by('note-text').first().inputValue()) !== expected) {
      throw new Error('a note differs from the trace text');
    }
    return await typing(a, b, CFG.traceKeys);
  } finally {
    await a.context.close();
    await b.context.close();
  }
}

// ---------------------------------------------------------------- main

async function main() {
  if (!args.out) throw new Error('--out FILE is required');
  if (!FIXTURE) throw new Error('set MESHBOARD_LARGE_BOARD (cargo xtask bench does)');
  const meshSaved = fs.readFileSync(FIXTURE);

  // the Yjs document of the same note: the trace (or its prefix) replayed into a Y.Text
  let t = Date.now();
  const trace = JSON.parse(zlib.gunzipSync(fs.readFileSync(TRACE)));
  const ydoc = new Y.Doc();
  const ytext = ydoc.getText('note');
  const txns = trace.txns.slice(0, Math.min(trace.txns.length, CFG.txns));
  for (const txn of txns) {
    ydoc.transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del) ytext.delete(pos, del);
        if (ins) ytext.insert(pos, ins);
      }
    });
  }
  const expected = ytext.toString();
  if (txns.length === trace.txns.length && expected !== trace.endContent) throw new Error('Yjs replay of the trace differs from its endContent');
  const yUpdate = Y.encodeStateAsUpdate(ydoc);
  log(`trace: ${txns.length} transactions, ${expected.length} characters; Yjs update ${yUpdate.length} B (replayed in ${Date.now() - t} ms); Meshboard save() ${meshSaved.length} B`);

  const started = new Date().toISOString();
  const toStop = [];
  let browser;
  try {
    const mesh = await startServer();
    toStop.push(mesh);
    const ysig = await startYWebrtcSignaling();
    toStop.push(ysig);
    const anchor = await startAnchor(ysig.url);
    toStop.push(anchor);
    browser = await launchBrowser();
    const apps = { mesh: meshApp(mesh.url), yjs: yjsApp(anchor.url) };
    log(`Meshboard ${mesh.url}, Yjs anchor ${anchor.url} (signaling ${ysig.url}), Chromium ${browser.version()}`);

    // time to editable, transfer sizes
    const cold = row('editable_cold', `navigation to \`board-title\` present, cold (fresh context), median of ${CFG.loads}`, 'ms');
    const warm = row('editable_warm', `the same, second load (same context), median of ${CFG.loads}`, 'ms');
    const coldB = row('transfer_cold', 'bytes the page received on its cold load (compressed, headers included)', 'B');
    const warmB = row('transfer_warm', 'bytes the page received on its second load', 'B');
    for (const side of ['mesh', 'yjs']) {
      try {
        const r = await within(180000, 'loads', () => loads(browser, apps[side]));
        cold[side] = ok(median(r.cold), `${r.cold.map((x) => x.toFixed(0)).join(', ')}`);
        warm[side] = ok(median(r.warm), `${r.warm.map((x) => x.toFixed(0)).join(', ')}`);
        coldB[side] = ok(median(r.coldBytes));
        warmB[side] = ok(median(r.warmBytes));
      } catch (e) {
        for (const x of [cold, warm, coldB, warmB]) x[side] = fail(e);
      }
      log(`${apps[side].name} loads: ${JSON.stringify([cold[side], warm[side], coldB[side], warmB[side]])}`);
    }

    // small note
    const small = {};
    for (const side of ['mesh', 'yjs']) {
      try {
        small[side] = await within(300000, 'small note', () => smallNote(browser, apps[side]));
      } catch (e) {
        small[side] = fail(e);
      }
      log(`${apps[side].name} small note: ${small[side].failed ?? `p50 ${pct(small[side].latencies, 50).toFixed(2)} ms`}`);
    }
    typingRows('small', `keystroke to the other peer, small note (${CFG.smallKeys} keys)`, small);

    // one room of many pages
    const roomWhat = `${CFG.roomPages} pages in one room, keystroke from A to the last of the other ${CFG.roomPages - 1} (${CFG.roomKeys} keys)`;
    const rp50 = row('room_p50', `${roomWhat}: p50`, 'ms');
    const rp99 = row('room_p99', `${roomWhat}: p99`, 'ms');
    const rlinks = row('room_links', `${CFG.roomPages} pages in one room: links per page (mean)`, 'count');
    const rbytes = row('room_bytes', `${CFG.roomPages} pages in one room: bytes all pages sent on data channels per keystroke`, 'B');
    for (const side of ['mesh', 'yjs']) {
      try {
        const r = await within(600000, 'room', () => room(browser, apps[side]));
        const p99 = pct(r.latencies, 99);
        const two = small[side].failed ? null : pct(small[side].latencies, 99);
        rp50[side] = ok(pct(r.latencies, 50), r.missed ? `${r.missed} of ${r.latencies.length + r.missed} keys did not reach every page in time` : undefined);
        rp99[side] = ok(p99, two ? `${(p99 / two).toFixed(2)}× the 2-peer p99 of this run (${two.toFixed(1)} ms)` : undefined);
        const mean = r.links.reduce((a, b) => a + b, 0) / r.links.length;
        rlinks[side] = ok(Math.round(mean * 10) / 10, `min ${Math.min(...r.links)}, max ${Math.max(...r.links)}`);
        rbytes[side] = ok(Math.round(r.bytesPerKey));
      } catch (e) {
        for (const x of [rp50, rp99, rlinks, rbytes]) x[side] = fail(e);
      }
      log(`${apps[side].name} room: ${JSON.stringify([rp50[side], rp99[side], rlinks[side], rbytes[side]])}`);
    }

    // trace board
    const saveRow = row('trace_save', "the trace note's document: `save()` / `Y.encodeStateAsUpdate`", 'B');
    saveRow.mesh = ok(meshSaved.length);
    saveRow.yjs = ok(yUpdate.length);
    const local = row('trace_local', 'open the trace board from IndexedDB until the whole note shows', 'ms');
    const join = row('trace_join', 'cold join of the trace board: B opens the link until the whole note shows', 'ms');
    const bytes = row('trace_join_bytes', 'cold join: bytes A sent on its data channels', 'B');
    const big = {};
    for (const side of ['mesh', 'yjs']) {
      const out = {};
      const saved = side === 'mesh' ? meshSaved : yUpdate;
      try {
        big[side] = await within(420000, 'trace board', () => traceBoard(browser, apps[side], saved, expected, out));
      } catch (e) {
        big[side] = fail(e);
      }
      local[side] = out.local ?? fail(big[side].failed ?? 'not reached');
      join[side] = out.join ?? fail(big[side].failed ?? 'not reached');
      bytes[side] = out.bytes ?? join[side];
      log(`${apps[side].name} trace: ${JSON.stringify({ local: local[side], join: join[side], bytes: bytes[side] })}, typing ${big[side].failed ?? `p50 ${pct(big[side].latencies, 50).toFixed(2)} ms`}`);
    }
    typingRows('trace', `keystroke to the other peer, trace note (${expected.length.toLocaleString('en-US')} chars, ${CFG.traceKeys} keys at its end)`, big);

    const meta = {
      smoke: SMOKE,
      chromium: browser.version(),
      node: process.version,
      yjs: JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules/yjs/package.json'))).version,
      yWebrtc: JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules/y-webrtc/package.json'))).version,
      yIndexeddb: JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules/y-indexeddb/package.json'))).version,
      traceTxns: txns.length,
      traceChars: expected.length,
      anchorJsBytes: anchor.jsBytes,
      anchorJsGzipBytes: anchor.jsGzipBytes,
      smallKeys: CFG.smallKeys,
      traceKeys: CFG.traceKeys,
      loads: CFG.loads,
      roomPages: CFG.roomPages,
      started,
    };
    fs.writeFileSync(args.out, JSON.stringify({ meta, rows }, null, 2) + '\n');
    log(`wrote ${args.out}`);
  } finally {
    await browser?.close().catch(() => {});
    for (const s of toStop.reverse()) await s.stop().catch(() => {});
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(`side-by-side: ${e.stack ?? e}`);
  process.exit(1);
});
