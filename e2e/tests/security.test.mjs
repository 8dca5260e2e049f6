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
import { rawWebSocket } from '../lib/raw-ws.mjs';

/** What a board's link leads to, computed independently of the app: the room's Ed25519 key
 * pair (its seed by HKDF-SHA256 from the secret) and the room id, the first 16 bytes of SHA-256
 * of the public key. */
function roomOf(link) {
  const secret = Buffer.from(new URL(link).hash.slice(1), 'base64url');
  const seed = Buffer.from(crypto.hkdfSync('sha256', secret, 'meshboard/v1', 'room signing key', 32));
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const privateKey = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  const publicKey = Buffer.from(crypto.createPublicKey(privateKey).export({ format: 'jwk' }).x, 'base64url');
  const room = crypto.createHash('sha256').update(publicKey).digest().subarray(0, 16).toString('hex');
  return { room, key: publicKey.toString('hex') };
}

/** A fresh Ed25519 key pair of the impostor's own: { key (public, hex), sign(bytes) -> hex }. */
function ownKeyPair() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const key = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex');
  return { key, sign: (bytes) => crypto.sign(null, bytes, privateKey).toString('hex') };
}

/** The bytes a join signs (signaling/src/protocol.rs, `join_proof_message`). */
function proofMessage(nonce, room) {
  const parts = [Buffer.from('meshboard/join-proof/v2')];
  for (const p of [nonce, room]) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(Buffer.byteLength(p));
    parts.push(len, Buffer.from(p));
  }
  return Buffer.concat(parts);
}

describe('a party that knows the room id (and the public key) but not the link', () => {
  const env = serverAndBrowser({ capture: true });

  test('cannot join, fill or evict the room, while the board keeps syncing', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    const secretText = `private-${crypto.randomUUID()}`;
    await a.by('add-note').click();
    await a.by('note-text').fill(secretText);
    await openBoard(b, link);
    await waitForText(b, 'note-text', secretText);
    await waitForText(a, 'peer-count', '1');

    const { room, key } = roomOf(link);
    const wsUrl = env.server.url.replace(/^http/, 'ws') + '/ws';
    // What the server received so far holds both browsers' real joins: a replay is tried too.
    const captured = fs.readFileSync(env.server.capturePath, 'utf8').split('\n').filter(Boolean)
      .map((l) => JSON.parse(l).text).filter((t) => t && t.includes('"type":"join"'));
    assert.equal(captured.length, 2, 'both browsers joined with a proof');
    assert.ok(captured.every((t) => JSON.parse(t).room === room), 'the room id is the hash of the derived key');
    const own = ownKeyPair();
    const attempts = [
      ['no signature of the key', (_nonce) => ({ room, key, sig: '00'.repeat(64) })],
      ['a signature by another key', (nonce) => ({ room, key, sig: own.sign(proofMessage(nonce, room)) })],
      ['its own key for this room id', (nonce) => ({ room, key: own.key, sig: own.sign(proofMessage(nonce, room)) })],
      ['a browser\'s join replayed', (_nonce) => JSON.parse(captured[0])],
      ['a v1 join with a chosen peer id', (_nonce) => ({ version: 1, room, peer: 'impostor0000' })],
    ];
    const received = [];
    for (const [what, make] of attempts) {
      const ws = await rawWebSocket(wsUrl);
      const challenge = await ws.message(0);
      assert.equal(challenge?.type, 'challenge', `${what}: a challenge first`);
      ws.send(JSON.stringify({ type: 'join', version: 2, ...make(challenge.nonce) }));
      const answer = await ws.message(1);
      assert.equal(answer?.type, 'error', `${what}: refused (${JSON.stringify(answer)})`);
      assert.ok(['bad_proof', 'bad_message', 'version_mismatch'].includes(answer.code), `${what}: ${answer.code}`);
      // signals without a join go nowhere
      ws.send(JSON.stringify({ type: 'signal', to: 'anyone', data: 'A'.repeat(120) }));
      if (answer.code === 'bad_proof') assert.ok(await ws.waitClosed(), `${what}: closed after a bad proof`);
      received.push(...ws.messages);
      ws.close();
    }
    // A crowd of failed joins at once (40): a bad proof takes no place in the room.
    const crowd = await Promise.all(Array.from({ length: 40 }, () => rawWebSocket(wsUrl)));
    await Promise.all(crowd.map(async (ws) => {
      const challenge = await ws.message(0);
      ws.send(JSON.stringify({ type: 'join', version: 2, room, key: own.key, sig: own.sign(proofMessage(challenge.nonce, room)) }));
      const answer = await ws.message(1);
      assert.equal(answer?.code, 'bad_proof');
      received.push(...ws.messages);
    }));
    for (const ws of crowd) ws.close();

    const all = received.join('\n');
    assert.ok(!all.includes('"welcome"'), 'the impostor was never welcomed');
    assert.ok(!all.includes(secretText), 'no board content reached the impostor');
    assert.ok(!all.includes('v=0'), 'no SDP reached the impostor');
    // Nobody was evicted or disturbed: still online, still one peer each, no warning, syncing.
    for (const u of [a, b]) {
      assert.equal(await textOf(u, 'connection-status'), 'online', `${u.name} still online`);
      assert.equal(await textOf(u, 'peer-count'), '1', `${u.name} still has its one peer`);
      assert.equal(await u.by('security-warning').count(), 0, `${u.name} saw nothing of the impostor`);
    }
    await b.by('board-title').fill('still fine');
    await waitForText(a, 'board-title', 'still fine');
    // The room has space for a real newcomer.
    const c = await newUser(env.browser, 'C');
    await openBoard(c, link);
    await waitForText(c, 'board-title', 'still fine');
    await waitForText(a, 'peer-count', '2');
    assertNoConsoleErrors(assert, a, b, c);
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
