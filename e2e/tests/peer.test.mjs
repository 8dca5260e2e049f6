// The always-on native peer (meshboard-peer) against real browsers: it holds a board while no
// browser is open, hands every edit to a browser that comes later, and keeps what it
// acknowledged across a SIGKILL and restart.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import {
  assertNoConsoleErrors, createBoard, newUser, openBoard, serverAndBrowser, valueOf, waitFor, waitForText,
} from '../lib/harness.mjs';

const PEER_BIN = process.env.MESHBOARD_PEER_BIN;

async function freePort() {
  const srv = net.createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

function peerCli(dataDir, ...args) {
  const r = spawnSync(PEER_BIN, ['--data-dir', dataDir, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`meshboard-peer ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** `meshboard-peer run` on `dataDir`; returns { metrics(), kill(signal), stderr() }. */
async function startPeer(dataDir, signalingUrl) {
  const port = await freePort();
  const child = spawn(PEER_BIN, [
    '--data-dir', dataDir, 'run', '--signaling-url', signalingUrl, '--metrics-addr', `127.0.0.1:${port}`, '--poll-ms', '200',
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: 'info,meshboard_peer=debug', RUST_BACKTRACE: '0' } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 1e6) stderr = stderr.slice(-5e5); });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  process.on('exit', () => child.kill('SIGKILL'));
  const metrics = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    const out = {};
    for (const line of (await res.text()).split('\n')) {
      const m = line.match(/^meshboard_peer_(\w+) (\S+)$/);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  };
  await waitFor('the peer serves /healthz', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 15000);
  return {
    metrics,
    stderr: () => stderr,
    async kill(signal) { child.kill(signal); await exited; },
  };
}

/** The peer holds one linked peer with whom it is in sync (everything acknowledged both ways). */
async function peerInSync(peer, what) {
  await waitFor(`the peer in sync (${what})`, async () => {
    const m = await peer.metrics();
    return m.peers === 1 && m.peers_behind === 0 && m.rooms_joined === 1;
  }, 30000);
}

describe('an always-on peer holds a board no browser has open', () => {
  const env = serverAndBrowser();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshboard-peer-e2e-'));
  let peer;
  const users = [];
  afterEach(() => assertNoConsoleErrors(assert, ...users));
  after(async () => {
    await peer?.kill('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('A edits with the peer online, B gets it all from the peer later, the peer keeps B\'s edits across SIGKILL', async (t) => {
    assert.ok(PEER_BIN, 'set MESHBOARD_PEER_BIN (cargo xtask test does)');
    const ws = env.server.url.replace(/^http/, 'ws') + '/ws';
    const a = await newUser(env.browser, 'A');
    users.push(a);
    const link = await createBoard(a, env.server.url);
    assert.match(peerCli(dataDir, 'add', link), /^added [0-9a-f]{32}/);
    peer = await startPeer(dataDir, ws);
    await waitForText(a, 'peer-count', '1', 30000);

    await a.by('board-title').fill('Held by the peer');
    await a.by('add-note').click();
    await a.by('note-text').pressSequentially('typed while the peer listened', { delay: 5 });
    await a.by('add-tasks').click();
    await a.by('task-input').fill('survive the browser');
    await a.by('task-input').press('Enter');
    await a.by('add-counter').click();
    await a.by('counter-inc').click();
    await a.by('counter-inc').click();
    await waitForText(a, 'counter-value', '2');
    await peerInSync(peer, 'after A\'s edits');
    await a.context.close();
    users.splice(users.indexOf(a), 1);
    await waitFor('the peer sees A gone', async () => (await peer.metrics()).peers === 0, 30000);

    // B never met A: everything comes from the peer
    const b = await newUser(env.browser, 'B');
    users.push(b);
    await openBoard(b, link);
    await waitForText(b, 'peer-count', '1', 30000);
    await waitForText(b, 'board-title', 'Held by the peer');
    await waitForText(b, 'note-text', 'typed while the peer listened');
    await waitForText(b, 'task-text', 'survive the browser');
    await waitForText(b, 'counter-value', '2');

    await b.by('note-text').press('End');
    await b.by('note-text').pressSequentially(', and B added this', { delay: 5 });
    await b.by('task-input').fill('from B');
    await b.by('task-input').press('Enter');
    await b.by('counter-dec').click();
    await waitForText(b, 'counter-value', '1');
    await peerInSync(peer, 'after B\'s edits');
    await b.context.close();
    users.splice(users.indexOf(b), 1);

    // no orderly shutdown: what it acknowledged must be on disk already
    const roles = [...peer.stderr().matchAll(/link started.*role=(Offerer|Answerer)/g)].map((m) => m[1]);
    await peer.kill('SIGKILL');
    peer = await startPeer(dataDir, ws);

    const c = await newUser(env.browser, 'C');
    users.push(c);
    await openBoard(c, link);
    await waitForText(c, 'peer-count', '1', 30000);
    await waitForText(c, 'note-text', 'typed while the peer listened, and B added this');
    await waitFor('C sees both tasks', async () => (await c.by('task-text').count()) === 2);
    await waitForText(c, 'counter-value', '1');
    assert.equal(await valueOf(c, 'board-title'), 'Held by the peer');
    t.diagnostic(`peer metrics after restart: ${JSON.stringify(await peer.metrics())}`);
    // which side offered (the lower peer id does): over several runs both occur
    roles.push(...[...peer.stderr().matchAll(/link started.*role=(Offerer|Answerer)/g)].map((m) => m[1]));
    t.diagnostic(`the peer's roles on its links (before and after the restart): ${roles.join(', ')}`);
  });
});
