// Share links that neither the server nor anyone on the path can read or hijack.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  assertNoConsoleErrors, copyOfDist, createBoard, newUser, openBoard, serverAndBrowser, startServer, textOf, waitFor,
  waitForText,
} from '../lib/harness.mjs';

/** The room id a board's link leads to, computed independently of the app (HKDF-SHA256). */
function roomOf(link) {
  const secret = Buffer.from(new URL(link).hash.slice(1), 'base64url');
  return Buffer.from(crypto.hkdfSync('sha256', secret, 'meshboard/v1', 'room id', 16)).toString('hex');
}

describe('a client that knows the room id but not the secret', () => {
  const env = serverAndBrowser();

  test('joins the room but gets no board content, is not counted, and its messages are refused', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    const secretText = `private-${crypto.randomUUID()}`;
    await a.by('add-note').click();
    await a.by('note-text').fill(secretText);
    await openBoard(b, link);
    await waitForText(b, 'note-text', secretText);

    // The impostor speaks the signaling protocol directly from a page on the same origin.
    const impostor = await newUser(env.browser, 'impostor');
    await impostor.page.goto(env.server.url + '/nowhere');
    const received = await impostor.page.evaluate(async ({ room }) => {
      const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws');
      const got = [];
      ws.onmessage = (e) => got.push(e.data);
      await new Promise((resolve) => { ws.onopen = resolve; });
      ws.send(JSON.stringify({ type: 'join', version: 1, room, peer: 'impostor0000' }));
      await new Promise((r) => setTimeout(r, 500));
      const welcome = JSON.parse(got[0]);
      for (const peer of welcome.peers) {
        // a plaintext offer, and a blob shaped like a sealed payload
        ws.send(JSON.stringify({ type: 'signal', to: peer, data: JSON.stringify({ t: 'offer', sdp: 'v=0\r\n' }) }));
        ws.send(JSON.stringify({ type: 'signal', to: peer, data: 'A'.repeat(120) }));
      }
      await new Promise((r) => setTimeout(r, 3000));
      ws.close();
      return got;
    }, { room: roomOf(link) });

    const welcome = JSON.parse(received[0]);
    assert.equal(welcome.type, 'welcome');
    assert.equal(welcome.peers.length, 2, 'the impostor really was in the board\'s room');
    const all = received.join('\n');
    assert.ok(!all.includes(secretText), 'no board content reached the impostor');
    assert.ok(!all.includes('v=0'), 'no plaintext SDP reached the impostor');
    for (const u of [a, b]) {
      await u.by('security-warning').waitFor();
      assert.equal(await textOf(u, 'peer-count'), '1', `${u.name} does not count the impostor`);
    }
    // the real peers still work together
    await b.by('board-title').fill('still fine');
    await waitForText(a, 'board-title', 'still fine');
    assertNoConsoleErrors(assert, a, b);
  });
});

/** The text of the first `security-warning` shown on any of `users`. */
async function firstWarning(...users) {
  return waitFor('a security warning', async () => {
    for (const u of users) {
      if ((await u.by('security-warning').count()) > 0) return u.by('security-warning').textContent();
    }
    return null;
  });
}

describe('a hostile relay that alters payloads', () => {
  const env = serverAndBrowser({ hostile: 'tamper' });

  test('that alters what it relays: the peers refuse to connect, warn, and exchange no board data', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await a.by('add-note').click();
    await a.by('note-text').fill(`private-${crypto.randomUUID()}`);
    await openBoard(b, link);
    // whoever receives the altered offer (the peer that answers) flags it
    const warned = await firstWarning(a, b);
    assert.match(warned, /did not come from anyone holding this board's link/);
    await new Promise((r) => setTimeout(r, 2000));
    for (const u of [a, b]) assert.equal(await textOf(u, 'peer-count'), '0', `${u.name} has no peer`);
    assert.equal(await b.by('widget').count(), 0, 'no board data reached B');
    assertNoConsoleErrors(assert, a, b);
  });
});

describe('a hostile relay that replays payloads', () => {
  const env = serverAndBrowser({ hostile: 'replay' });

  test('that replays what it relays: the replays are refused and flagged, the honest exchange still connects', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await openBoard(b, link);
    await waitForText(a, 'peer-count', '1');
    await waitForText(b, 'peer-count', '1');
    assert.match(await firstWarning(a, b), /played again/);
    await a.by('board-title').fill('works despite replays');
    await waitForText(b, 'board-title', 'works despite replays');
    assertNoConsoleErrors(assert, a, b);
  });
});

/** Record every Content-Security-Policy violation of `user`'s pages in `window.__cspViolations`
 * (from the next navigation on). */
async function recordCspViolations(user) {
  await user.page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
}

const cspViolations = (user) => user.page.evaluate(() => window.__cspViolations.splice(0));

describe('the app under its Content-Security-Policy', () => {
  const env = serverAndBrowser();

  test('loads, edits and syncs with no violation, also from the service worker, and refuses inline script', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    for (const u of [a, b]) await recordCspViolations(u);
    const response = await a.page.goto(env.server.url + '/');
    const csp = response.headers()['content-security-policy'];
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/);
    assert.ok(!/unsafe-inline/.test(csp), csp);
    // every script the page has is a file with an integrity attribute
    const scripts = await a.page.evaluate(() => [...document.scripts].map((s) => ({ src: s.getAttribute('src'), integrity: s.integrity })));
    assert.ok(scripts.length >= 2, JSON.stringify(scripts));
    for (const s of scripts) assert.ok(s.src && /^sha384-/.test(s.integrity), JSON.stringify(s));

    const link = await createBoard(a, env.server.url);
    await a.by('add-note').click();
    await a.by('add-tasks').click();
    await a.by('add-counter').click();
    await a.by('note-text').fill('under a strict policy');
    await a.by('counter-inc').click();
    await openBoard(b, link);
    await waitForText(b, 'peer-count', '1');
    await waitForText(b, 'note-text', 'under a strict policy');
    await b.by('board-title').fill('Strict');
    await waitForText(a, 'board-title', 'Strict');
    await waitForText(a, 'counter-value', '1');

    // a reload served by the service worker keeps the policy
    await a.page.evaluate(() => navigator.serviceWorker.ready);
    await waitFor('A controlled by the service worker', () => a.page.evaluate(() => !!navigator.serviceWorker.controller));
    await a.page.reload();
    await waitForText(a, 'note-text', 'under a strict policy');
    for (const u of [a, b]) assert.deepEqual(await cspViolations(u), [], `${u.name}: no CSP violation`);
    assertNoConsoleErrors(assert, a, b);

    // and the policy is enforced: an injected inline script does not run
    const ran = await a.page.evaluate(async () => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true;';
      document.head.append(s);
      await new Promise((r) => setTimeout(r, 100));
      return !!window.__inlineRan;
    });
    assert.equal(ran, false, 'inline script is refused');
    assert.equal((await cspViolations(a)).filter((v) => /script-src/.test(v)).length, 1);
    a.errors.splice(0); // Chromium logs the refusal as a console error
  });
});

describe('subresource integrity', () => {
  const env = serverAndBrowser();

  /** A server for a copy of dist/ in which `file` (matched by name) had one byte changed. */
  async function serveTampered(pattern) {
    const dist = copyOfDist();
    const name = fs.readdirSync(dist).find((f) => pattern.test(f));
    const file = path.join(dist, name);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 2] ^= 1;
    fs.writeFileSync(file, bytes);
    // no precompressed copies of the changed file: the server sends what is on disk
    for (const ext of ['.br', '.gz']) fs.rmSync(file + ext, { force: true });
    return startServer({ dist });
  }

  for (const [what, pattern] of [['JS', /^app-[0-9a-f]{16}\.js$/], ['wasm', /^app-[0-9a-f]{16}_bg\.wasm$/], ['loader', /^boot-[0-9a-f]{16}\.js$/]]) {
    test(`a changed byte in the app's ${what} stops the app from starting`, async () => {
      const server = await serveTampered(pattern);
      try {
        const u = await newUser(env.browser, 'U');
        await u.page.goto(server.url + '/');
        await new Promise((r) => setTimeout(r, 2000));
        assert.equal(await u.by('new-board').count(), 0, 'the app did not start');
        const all = u.errors.splice(0).join('\n');
        assert.match(all, /integrity|digest/i, all);
      } finally {
        await server.stop();
      }
    });
  }
});
