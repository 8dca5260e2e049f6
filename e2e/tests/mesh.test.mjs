// The mesh panel: every linked peer with how the link is made, its round-trip time, its bytes
// and whether the board is in sync with it, and the signaling connection; live while open, and
// no getStats() call at all while closed. Real server, real WebRTC between browser contexts.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  assertNoConsoleErrors, createBoard, launchBrowser, newUser, openBoard, serverAndBrowser, startCoturn, startServer, waitFor,
  waitForText,
} from '../lib/harness.mjs';

/** A user whose pages count their calls of RTCPeerConnection.getStats() in `window.__getStats`. */
async function countingUser(browser, name) {
  const user = await newUser(browser, name);
  await user.context.addInitScript(() => {
    window.__getStats = 0;
    const original = RTCPeerConnection.prototype.getStats;
    RTCPeerConnection.prototype.getStats = function (...args) {
      window.__getStats += 1;
      return original.apply(this, args);
    };
  });
  return user;
}

const getStatsCalls = (user) => user.page.evaluate(() => window.__getStats);
const rows = (user) => user.by('mesh-peer');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Open the panel (if closed) and wait until it lists `n` peers. */
async function openPanel(user, n) {
  if (!(await user.by('mesh-panel').count())) await user.by('mesh-open').click();
  await user.by('mesh-panel').waitFor();
  await waitFor(`${user.name} lists ${n} peer(s)`, async () => (await rows(user).count()) === n);
}

/** The name the other side is shown by: what its own panel says it is to the others. */
async function ownName(user) {
  if (!(await user.by('mesh-panel').count())) await user.by('mesh-open').click();
  const me = user.by('mesh-me');
  await me.waitFor();
  return me.getAttribute('data-name');
}

describe('the mesh panel', () => {
  let a, b, link;
  const env = serverAndBrowser();

  before(async () => {
    a = await countingUser(env.browser, 'A');
    b = await countingUser(env.browser, 'B');
    link = await createBoard(a, env.server.url);
    await openBoard(b, link);
    await waitForText(a, 'peer-count', '1');
    await waitForText(b, 'peer-count', '1');
  });

  afterEach(() => assertNoConsoleErrors(assert, a, b));

  test('closed, it reads no stats; open, about once a second; closed again, none', async () => {
    await sleep(1500);
    assert.equal(await getStatsCalls(a), 0, 'nothing asks for stats while the panel is closed');
    assert.equal(await a.by('mesh-panel').count(), 0);
    await openPanel(a, 1);
    const opened = await getStatsCalls(a);
    await sleep(3000);
    const polled = (await getStatsCalls(a)) - opened;
    assert.ok(polled >= 2 && polled <= 5, `one link polled about once a second: ${polled} calls in 3 s`);
    await a.by('mesh-close').click();
    assert.equal(await a.by('mesh-panel').count(), 0, 'the close button closes it');
    await sleep(300); // a poll that was under way when it closed may still finish
    const closed = await getStatsCalls(a);
    await sleep(2500);
    assert.equal(await getStatsCalls(a), closed, 'no stats are read once it is closed');
  });

  test('lists the other peer by name: direct, an RTT, bytes both ways, in sync after an edit', async () => {
    await b.by('my-name').fill('Bob');
    await b.by('my-name').press('Enter');
    assert.equal(await ownName(b), 'Bob', 'B\'s panel says who B is to the others');
    await openPanel(a, 1);
    // by the name B's presence gives (a short peer id until it arrives)
    await waitFor('A\'s row names B', async () => (await rows(a).first().getAttribute('data-name')) === 'Bob');
    assert.equal(await a.by('mesh-name').first().textContent(), 'Bob');
    assert.equal(await a.by('mesh-signaling').getAttribute('data-state'), 'connected');
    assert.match(await a.by('mesh-signaling').textContent(), /Signaling server: Connected/);

    // the route, from the selected candidate pair: both browsers on this machine
    await waitFor('a direct route', async () => /^direct-/.test(await a.by('mesh-route').getAttribute('data-route')));
    assert.match(await a.by('mesh-route').textContent(), /^Direct \((same network|through NAT)\)$/);
    // a round-trip time, once a connectivity check came back
    const rtt = await waitFor('an RTT', async () => {
      const ms = await a.by('mesh-rtt').getAttribute('data-ms');
      return ms === null ? null : Number(ms);
    });
    assert.ok(Number.isFinite(rtt) && rtt >= 0 && rtt < 1000, `RTT ${rtt} ms`);
    assert.match(await a.by('mesh-rtt').textContent(), /^RTT (<1|\d+) ms$/);

    // an edit on B: bytes flow both ways, they grow while the panel is open, and it settles in sync
    const bytes = async () => {
      const el = a.by('mesh-bytes');
      return [Number(await el.getAttribute('data-sent')), Number(await el.getAttribute('data-received'))];
    };
    const [sent0, received0] = await bytes();
    await b.by('add-note').click();
    await b.by('note-text').fill('The mesh is visible now');
    await waitForText(a, 'note-text', 'The mesh is visible now');
    await waitFor('more bytes received by A, shown live', async () => (await bytes())[1] > received0);
    const [sent, received] = await bytes();
    assert.ok(sent > 0 && sent >= sent0 && received > 0, `bytes sent ${sent}, received ${received}`);
    assert.match(await a.by('mesh-bytes').textContent(), /^↑ [\d.]+ (B|KB|MB) sent · ↓ [\d.]+ (B|KB|MB) received$/);
    await waitFor('A in sync with B', async () => (await a.by('mesh-sync').getAttribute('data-state')) === 'in-sync');
    assert.equal(await a.by('mesh-sync').textContent(), 'In sync');
    await waitFor('B in sync with A', async () => (await b.by('mesh-sync').getAttribute('data-state')) === 'in-sync');

    // Escape closes it
    await a.page.keyboard.press('Escape');
    await waitFor('A\'s panel closed by Escape', async () => (await a.by('mesh-panel').count()) === 0);
    await b.by('mesh-close').click();
  });

  test('keyboard only: the button has a name, Enter opens, Escape closes and gives focus back', async () => {
    assert.equal(await a.by('mesh-panel').count(), 0);
    const button = a.page.getByRole('button', { name: 'Connections', exact: true });
    assert.equal(await button.getAttribute('data-testid'), 'mesh-open');
    await button.focus();
    await a.page.keyboard.press('Enter');
    await a.by('mesh-panel').waitFor();
    assert.equal(await button.getAttribute('aria-expanded'), 'true');
    await a.page.keyboard.press('Escape');
    await waitFor('closed by Escape', async () => (await a.by('mesh-panel').count()) === 0);
    assert.equal(await button.getAttribute('aria-expanded'), 'false');
    assert.equal(await a.page.evaluate(() => document.activeElement?.dataset.testid), 'mesh-open', 'focus is back on the button');
    await a.page.keyboard.press('Space');
    await a.by('mesh-panel').waitFor();
    await a.page.keyboard.press('Space');
    await waitFor('closed by the same button', async () => (await a.by('mesh-panel').count()) === 0);
  });

  test('with three peers it lists two rows; a context that closes loses its row', async () => {
    const c = await countingUser(env.browser, 'C');
    await openBoard(c, link);
    await c.by('my-name').fill('Carol');
    await c.by('my-name').press('Enter');
    await waitForText(a, 'peer-count', '2');
    await waitForText(c, 'peer-count', '2');
    const [bName, cName] = [await ownName(b), await ownName(c)];
    assert.deepEqual([bName, cName], ['Bob', 'Carol']);
    await openPanel(a, 2);
    await waitFor('A lists B and C, both in sync and direct', async () => {
      const got = await rows(a).evaluateAll((els) => els.map((e) => [e.dataset.name, e.dataset.sync, e.dataset.route]));
      const names = got.map(([n]) => n).sort();
      return JSON.stringify(names) === JSON.stringify([bName, cName].sort())
        && got.every(([, s, r]) => s === 'in-sync' && r.startsWith('direct-'));
    });
    await openPanel(c, 2);
    assertNoConsoleErrors(assert, c);

    await c.context.close();
    await waitFor('C\'s row gone from A', async () => {
      const names = await rows(a).evaluateAll((els) => els.map((e) => e.dataset.name));
      return names.length === 1 && names[0] === bName;
    });
    await waitFor('C\'s row gone from B', async () => {
      const names = await rows(b).evaluateAll((els) => els.map((e) => e.dataset.name));
      return names.length === 1 && names[0] !== cName;
    });
    await waitForText(a, 'peer-count', '1');
  });
});

describe('the mesh panel tells the signaling state', () => {
  const env = serverAndBrowser();

  test('connected, reconnecting while the server is gone (links stay in sync), offline when paused', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await openBoard(b, link);
    await waitForText(a, 'peer-count', '1');
    await openPanel(a, 1);
    await waitFor('connected', async () => (await a.by('mesh-signaling').getAttribute('data-state')) === 'connected');

    await env.server.stop();
    env.server = null;
    await waitFor('reconnecting', async () => (await a.by('mesh-signaling').getAttribute('data-state')) === 'reconnecting');
    assert.match(await a.by('mesh-signaling').textContent(), /Reconnecting…/);
    // the open link carries edits without the server, and the panel still lists it
    await b.by('add-counter').click();
    await waitFor('A sees the counter', async () => (await a.by('counter-value').count()) === 1);
    assert.equal(await rows(a).count(), 1);
    await waitFor('still in sync', async () => (await a.by('mesh-sync').getAttribute('data-state')) === 'in-sync');

    await a.by('offline-toggle').click();
    await waitFor('offline', async () => (await a.by('mesh-signaling').getAttribute('data-state')) === 'offline');
    await waitFor('no links while offline', async () => (await rows(a).count()) === 0);
    assert.equal(await a.by('mesh-empty').count(), 1);
    // the server going away logs failed WebSocket connections: those are expected here
    a.errors.length = 0;
    b.errors.length = 0;
  });
});

// `cargo xtask test` installs Debian's coturn when it is missing (see also turn.test.mjs, where
// the server itself asks for relay-only links)
describe('a link relayed through TURN', () => {
  let turn, server, browser;

  before(async () => {
    turn = await startCoturn();
    server = await startServer({ args: ['--turn-url', turn.url, '--turn-secret', turn.secret] });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await turn?.stop();
  });

  /** A user whose peer connections may use relay candidates only (as behind a strict firewall). */
  async function relayOnlyUser(name) {
    const user = await newUser(browser, name);
    await user.context.addInitScript(() => {
      const Original = window.RTCPeerConnection;
      const RelayOnly = function (config = {}, ...rest) {
        return new Original({ ...config, iceTransportPolicy: 'relay' }, ...rest);
      };
      RelayOnly.prototype = Original.prototype;
      window.RTCPeerConnection = RelayOnly;
    });
    return user;
  }

  test('shows "Relayed (TURN)" with an RTT and bytes', async () => {
    const a = await relayOnlyUser('A');
    const b = await relayOnlyUser('B');
    const link = await createBoard(a, server.url);
    await openBoard(b, link);
    await waitForText(a, 'peer-count', '1', 30000);
    await openPanel(a, 1);
    await waitFor('a relayed route', async () => (await a.by('mesh-route').getAttribute('data-route')) === 'relay');
    assert.equal(await a.by('mesh-route').textContent(), 'Relayed (TURN)');
    assert.match(await a.by('mesh-route').getAttribute('title'), /relay/);
    await waitFor('an RTT', async () => (await a.by('mesh-rtt').getAttribute('data-ms')) !== null);
    assert.ok(Number(await a.by('mesh-bytes').getAttribute('data-sent')) > 0);
    assertNoConsoleErrors(assert, a, b);
  });
});
