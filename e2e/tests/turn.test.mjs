// TURN for real: Debian's coturn on loopback with the signaling server's TURN REST secret. Two
// browsers whose server says `--ice-transport-policy relay` sync a board only through coturn,
// with the short-lived credentials the server hands out; credentials that are forged, tampered
// with or expired are refused by coturn itself (asked by hand over UDP, and by a browser); and
// the production configuration deploy/turnserver.conf accepts the server's credentials and
// refuses to relay into loopback and private networks.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  artifact, assertNoConsoleErrors, createBoard, launchBrowser, newUser, openBoard, startCoturn, startServer,
  waitFor, waitForText,
} from '../lib/harness.mjs';
import { rawWebSocket } from '../lib/raw-ws.mjs';
import { allocate, turnPassword } from '../lib/turn.mjs';

/** A user whose pages keep every RTCPeerConnection the app makes, and the configuration it was
 * made with, in `window.__pcs` and `window.__configs` (the configuration itself is untouched). */
async function recordingUser(browser, name) {
  const user = await newUser(browser, name);
  await user.context.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    window.__pcs = [];
    window.__configs = [];
    window.RTCPeerConnection = class extends Original {
      constructor(config, ...rest) {
        super(config, ...rest);
        window.__pcs.push(this);
        window.__configs.push(JSON.parse(JSON.stringify(config ?? {})));
      }
    };
  });
  return user;
}

/** For each connected peer connection of the page: its selected candidate pair (types and the
 * remote address) and the types of every local candidate it gathered. */
function linkStats(user) {
  return user.page.evaluate(() => Promise.all(window.__pcs.filter((pc) => pc.connectionState === 'connected').map(async (pc) => {
    const stats = await pc.getStats();
    const byId = new Map();
    stats.forEach((s) => byId.set(s.id, s));
    let pair = null;
    stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId); });
    const locals = [];
    stats.forEach((s) => { if (s.type === 'local-candidate') locals.push(s.candidateType); });
    const local = byId.get(pair?.localCandidateId);
    const remote = byId.get(pair?.remoteCandidateId);
    return {
      local: local?.candidateType,
      remote: remote && { type: remote.candidateType, address: remote.address, port: remote.port },
      locals,
      bytesSent: pair?.bytesSent ?? 0,
    };
  })));
}

/** A fresh Ed25519 key pair and the room it owns (room id = first 16 bytes of SHA-256 of the
 * public key): enough to join a room by hand and read the `welcome`. */
function ownRoom() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const key = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const room = crypto.createHash('sha256').update(key).digest().subarray(0, 16).toString('hex');
  return { room, key: key.toString('hex'), sign: (bytes) => crypto.sign(null, bytes, privateKey).toString('hex') };
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

/** Join a room of our own on `serverUrl` by hand; the `welcome` message. */
async function welcome(serverUrl) {
  const ws = await rawWebSocket(serverUrl.replace(/^http/, 'ws') + '/ws');
  try {
    const challenge = await ws.message(0);
    assert.equal(challenge?.type, 'challenge');
    const me = ownRoom();
    ws.send(JSON.stringify({ type: 'join', version: 2, room: me.room, key: me.key, sig: me.sign(proofMessage(challenge.nonce, me.room)) }));
    const w = await ws.message(1);
    assert.equal(w?.type, 'welcome', JSON.stringify(w));
    return w;
  } finally {
    ws.close();
  }
}

/** The TURN entry of a welcome's ICE servers. */
function turnEntry(w, coturn) {
  const entries = w.ice_servers.filter((s) => s.urls.includes(coturn.url));
  assert.equal(entries.length, 1, JSON.stringify(w.ice_servers));
  return entries[0];
}

const now = () => Math.floor(Date.now() / 1000);

describe('two browsers on a relay-only server sync a board through coturn', () => {
  let coturn, server, browser, a, b;

  before(async () => {
    coturn = await startCoturn();
    server = await startServer({
      args: ['--turn-url', coturn.url, '--turn-secret', coturn.secret, '--ice-transport-policy', 'relay'],
    });
    browser = await launchBrowser();
    a = await recordingUser(browser, 'A');
    b = await recordingUser(browser, 'B');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await coturn?.stop();
  });

  afterEach(() => assertNoConsoleErrors(assert, a, b));

  test('they link, each end on a relay candidate of coturn, with the server\'s credentials', async () => {
    const link = await createBoard(a, server.url);
    await openBoard(b, link);
    await waitForText(a, 'peer-count', '1', 30000);
    await waitForText(b, 'peer-count', '1', 30000);

    for (const user of [a, b]) {
      // what the app asked the browser for: relay only, coturn, short-lived REST credentials
      const configs = await user.page.evaluate(() => window.__configs);
      assert.ok(configs.length >= 1, `${user.name} made a peer connection`);
      for (const config of configs) {
        assert.equal(config.iceTransportPolicy, 'relay', `${user.name}: ${JSON.stringify(config)}`);
        assert.equal(config.iceServers.length, 1);
        const [turn] = config.iceServers;
        assert.deepEqual(turn.urls, [coturn.url]);
        const [expiry, who] = turn.username.split(':');
        assert.ok(Number(expiry) > now(), `the credentials are not expired: ${turn.username}`);
        assert.match(who, /^[A-Za-z0-9_-]{22}$/, 'the name part is the peer id');
        assert.equal(turn.credential, turnPassword(coturn.secret, turn.username), 'HMAC-SHA1 of the secret');
      }
      // how the browser actually links: every candidate it gathered is a relay candidate, its
      // selected pair sends from its coturn allocation to the other's
      let links;
      await waitFor(`${user.name}'s link has a selected candidate pair`, async () => {
        links = await linkStats(user);
        return links.length === 1 && links[0].local !== undefined && links[0].remote !== undefined;
      });
      const [l] = links;
      assert.equal(l.local, 'relay', `${user.name}: ${JSON.stringify(l)}`);
      assert.deepEqual([...new Set(l.locals)], ['relay'], `${user.name} gathered relay candidates only`);
      assert.equal(l.remote.address, '127.0.0.1');
      assert.ok(l.remote.port >= coturn.relayPorts[0] && l.remote.port <= coturn.relayPorts[1],
        `${user.name}'s remote end is a coturn relay port: ${JSON.stringify(l.remote)} in ${coturn.relayPorts}`);
    }
    // coturn's own account: an allocation and a permission for each browser's username
    const log = coturn.log();
    for (const user of [a, b]) {
      const usernames = (await user.page.evaluate(() => window.__configs)).map((c) => c.iceServers[0].username);
      const granted = (what) => usernames.some((u) => log.includes(`user <${u}>: incoming packet ${what} processed, success`));
      assert.ok(granted('ALLOCATE'), `coturn allocated a relay for ${user.name} (${usernames}):\n${log.slice(-3000)}`);
      assert.ok(granted('CREATE_PERMISSION'), `coturn let ${user.name} reach the other's relay`);
    }
  });

  test('the mesh panel shows the link as relayed', async () => {
    for (const user of [a, b]) {
      if (!(await user.by('mesh-panel').count())) await user.by('mesh-open').click();
      await user.by('mesh-panel').waitFor();
      await waitFor(`${user.name} sees a relayed route`, async () => (await user.by('mesh-route').getAttribute('data-route')) === 'relay');
      assert.equal(await user.by('mesh-route').textContent(), 'Relayed (TURN)');
    }
    await a.page.screenshot({ path: artifact('turn-mesh-panel.png') });
    await a.by('mesh-open').click();
    await b.by('mesh-open').click();
  });

  test('edits flow both ways over the relayed link', async () => {
    const sentBefore = (await linkStats(a))[0].bytesSent;
    await a.by('board-title').fill('Through TURN');
    await waitForText(b, 'board-title', 'Through TURN');

    await b.by('add-note').click();
    await waitFor('A sees the note', async () => (await a.by('widget').count()) === 1);
    await b.by('note-text').pressSequentially('relayed by coturn', { delay: 5 });
    await waitForText(a, 'note-text', 'relayed by coturn');
    await a.by('note-text').press('End');
    await a.page.keyboard.type(', both ways', { delay: 5 });
    await waitForText(b, 'note-text', 'relayed by coturn, both ways');
    await a.page.screenshot({ path: artifact('turn-board.png') });

    // the edits went over the relayed pair: it is still the selected one, and it carried them
    for (const user of [a, b]) {
      const [l] = await linkStats(user);
      assert.equal(l.local, 'relay', `${user.name}: ${JSON.stringify(l)}`);
    }
    assert.ok((await linkStats(a))[0].bytesSent > sentBefore, 'A sent its edits on the relayed pair');
  });
});

describe('coturn refuses credentials the server did not hand out, or that expired', () => {
  let coturn, server, browser;

  before(async () => {
    coturn = await startCoturn();
    server = await startServer({ args: ['--turn-url', coturn.url, '--turn-secret', coturn.secret, '--turn-ttl-secs', '600'] });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await coturn?.stop();
  });

  test('by hand over UDP: the server\'s credentials get an allocation, altered ones a 401', async () => {
    const turn = turnEntry(await welcome(server.url), coturn);
    const [expiry, peer] = turn.username.split(':');
    assert.ok(Number(expiry) >= now() + 590, `ten minutes from now: ${turn.username}`);

    // the control: what the server handed out works, so each refusal below is coturn's verdict
    // on the credential, not a client that cannot talk TURN
    const ok = await allocate(coturn.port, turn.username, turn.credential);
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.match(ok.relayed, /^127\.0\.0\.1:\d+$/);

    const refused = [
      ['a password signed with another secret', turn.username, turnPassword('not-the-secret', turn.username)],
      ['a made-up password', turn.username, crypto.randomBytes(20).toString('base64')],
      ['the expiry pushed back, the password kept', `${Number(expiry) + 3600}:${peer}`, turn.credential],
      ['another peer\'s name, the password kept', `${expiry}:someone-else`, turn.credential],
      ['a username that expired a minute ago, signed with the right secret', `${now() - 60}:${peer}`,
        turnPassword(coturn.secret, `${now() - 60}:${peer}`)],
    ];
    for (const [what, username, password] of refused) {
      const r = await allocate(coturn.port, username, password);
      assert.deepEqual(r, { ok: false, code: 401 }, `${what}: ${JSON.stringify(r)}`);
    }
    // and the right secret with a future expiry (what the server would sign) is accepted: the
    // expired one above was refused for its time alone
    const fresh = `${now() + 60}:${peer}`;
    assert.equal((await allocate(coturn.port, fresh, turnPassword(coturn.secret, fresh))).ok, true);
  });

  test('in a browser: relay-only with forged or expired credentials gathers no relay candidate', async () => {
    const turn = turnEntry(await welcome(server.url), coturn);
    const user = await newUser(browser, 'gatherer');
    await user.page.goto(server.url + '/');
    /** Gather candidates with only `iceServer`, relay only; their types, and the error codes. */
    const gather = (iceServer) => user.page.evaluate(async (server) => {
      const pc = new RTCPeerConnection({ iceServers: [server], iceTransportPolicy: 'relay' });
      const types = [];
      const errors = [];
      pc.onicecandidate = (e) => { if (e.candidate) types.push(e.candidate.type); };
      pc.onicecandidateerror = (e) => errors.push(e.errorCode);
      const done = new Promise((resolve) => {
        pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
      });
      pc.createDataChannel('probe');
      await pc.setLocalDescription(await pc.createOffer());
      await done;
      pc.close();
      return { types, errors };
    }, iceServer);

    const good = await gather(turn);
    assert.ok(good.types.includes('relay'), `the server's credentials give a relay candidate: ${JSON.stringify(good)}`);
    const expired = `${now() - 60}:${turn.username.split(':')[1]}`;
    for (const [what, server] of [
      ['forged', { ...turn, credential: turnPassword('not-the-secret', turn.username) }],
      ['expired', { ...turn, username: expired, credential: turnPassword(coturn.secret, expired) }],
    ]) {
      const r = await gather(server);
      assert.deepEqual(r.types, [], `${what}: no candidate at all (${JSON.stringify(r)})`);
      assert.ok(r.errors.includes(401), `${what}: coturn answered 401 (${JSON.stringify(r)})`);
    }
    assertNoConsoleErrors(assert, user);
  });
});

describe('deploy/turnserver.conf, as shipped (but for ports, addresses, secret and TLS)', () => {
  let coturn, server;
  const conf = fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '../../deploy/turnserver.conf'), 'utf8');

  before(async () => {
    coturn = await startCoturn({ config: conf });
    server = await startServer({ args: ['--turn-url', coturn.url, '--turn-secret', coturn.secret] });
  });

  after(async () => {
    await server?.stop();
    await coturn?.stop();
  });

  test('it takes the server\'s credentials, and no forged or expired ones', async () => {
    assert.equal(coturn.realm, 'turn.example.com', 'the realm of the shipped file');
    const turn = turnEntry(await welcome(server.url), coturn);
    const ok = await allocate(coturn.port, turn.username, turn.credential);
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.deepEqual(await allocate(coturn.port, turn.username, turnPassword('not-the-secret', turn.username)), { ok: false, code: 401 });
    const expired = `${now() - 60}:${turn.username.split(':')[1]}`;
    assert.deepEqual(await allocate(coturn.port, expired, turnPassword(coturn.secret, expired)), { ok: false, code: 401 });
  });

  test('it relays to public addresses only: never into the machine or a private network', async () => {
    const turn = turnEntry(await welcome(server.url), coturn);
    const inside = ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.1'];
    const outside = ['8.8.8.8', '203.0.113.7'];
    const r = await allocate(coturn.port, turn.username, turn.credential, { permit: [...inside, ...outside] });
    assert.equal(r.ok, true, JSON.stringify(r));
    for (const ip of inside) assert.equal(r.permissions[ip], 403, `no permission to relay to ${ip}: ${JSON.stringify(r.permissions)}`);
    for (const ip of outside) assert.equal(r.permissions[ip], 'ok', `a permission for ${ip}: ${JSON.stringify(r.permissions)}`);
  });
});
