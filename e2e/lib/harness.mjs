// Shared e2e plumbing: the real signaling server binary, the system Chromium, and users
// (one browser context each, so each has its own storage) whose console errors fail the test.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';
import { stunAnswers } from './turn.mjs';

const SERVER_BIN = process.env.MESHBOARD_SERVER_BIN;
const DIST = process.env.MESHBOARD_DIST;
export const ARTIFACTS = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'artifacts');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // plain IP host candidates instead of mDNS names
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/** Servers still running; killed when this test process exits, whatever happened. */
const running = new Set();

/** Every user and server of this test file: what a timed-out wait prints (see `diagnose`). */
const seen = { users: [], servers: [] };
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A copy of the built app (dist/) in a fresh directory, for a test that changes files. */
export function copyOfDist() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshboard-dist-'));
  fs.cpSync(DIST, dir, { recursive: true });
  return dir;
}

/**
 * Start the signaling server (serving the built app, or `dist`) on a free port. It prints exactly one stdout
 * line, `listening on http://127.0.0.1:PORT`, once it listens. Returns { url, capturePath, stop() }.
 */
export async function startServer({ capture = false, port = 0, hostile = null, dist = DIST, args: extra = [] } = {}) {
  if (!SERVER_BIN || !DIST) throw new Error('set MESHBOARD_SERVER_BIN and MESHBOARD_DIST (cargo xtask test does)');
  const args = ['--listen', `127.0.0.1:${port}`, ...(dist ? ['--static-dir', dist] : []), ...extra];
  // test aid: a relay that alters ('tamper') or replays ('replay') what it relays
  if (hostile) args.push('--hostile-relay', hostile);
  let capturePath = null;
  if (capture) {
    capturePath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meshboard-capture-')), 'capture.jsonl');
    args.push('--capture', capturePath);
  }
  const child = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  running.add(child);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    running.delete(child);
    resolve(code ?? signal);
  }));
  let stderr = '';
  child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  seen.servers.push({ args, stderr: () => stderr });
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start in 15 s: ${stderr}`)), 15000);
      const lines = readline.createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        const m = line.match(/^listening on (http:\/\/\S+)$/);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${SERVER_BIN}: ${e.message}`)); });
      exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}: ${stderr}`)); });
    });
    return {
      url,
      capturePath,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      },
    };
  } catch (e) {
    if (child.pid !== undefined) {
      child.kill('SIGKILL');
      await exited;
    }
    throw e;
  }
}

/**
 * A real `redis-server` (Debian's package; `cargo xtask test` installs it) on a free port of
 * 127.0.0.1, without persistence, for servers started with `args: ['--redis-url', redis.url]`.
 * Returns { url, stop() } once it accepts connections.
 */
export async function startRedis() {
  const port = await new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  const exited = new Promise((resolve) => child.on('exit', () => { running.delete(child); resolve(); }));
  child.on('error', () => {});
  const deadline = Date.now() + 10000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('redis-server did not start (apt-get install redis-server, or cargo xtask test)');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}/`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A free TCP port of 127.0.0.1 (free for UDP too, most likely: nothing here binds UDP by number). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
}

/**
 * Debian's coturn (`/usr/bin/turnserver`; `cargo xtask test` installs it) on a free port of
 * 127.0.0.1, UDP and TCP, relaying on 127.0.0.1 from a range of 200 ports, with the TURN REST
 * scheme (`use-auth-secret`, `static-auth-secret=secret`) the signaling server's
 * `--turn-secret` matches. Returns { port, url (turn:...?transport=udp), secret, realm,
 * relayPorts ([min, max]), log(), stop() } once it answers a STUN binding request. `log()` is
 * everything it printed (`verbose`: one line per request, with its outcome).
 *
 * Without `config`, every setting is on the command line (`-c /dev/null` keeps
 * /etc/turnserver.conf out); no TLS, no CLI, and `--allow-loopback-peers`, because both
 * browsers' relay addresses are on loopback (never in production). With `config` (the text of a
 * turnserver.conf, such as deploy/turnserver.conf), that file is used as it is, except for what
 * a test on loopback must change: where it listens and relays, its ports, its secret, no TLS
 * (no certificate here), and a pid file, user database and log of its own.
 */
export async function startCoturn({ secret = crypto.randomBytes(16).toString('hex'), realm = 'meshboard.test', config = null } = {}) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshboard-coturn-'));
  const file = path.join(dir, 'turnserver.conf');
  // relay ports: a random range away from the usual ephemeral ports (32768 and up)
  const min = 20000 + Math.floor(Math.random() * 10000);
  const plumbing = {
    'listening-ip': '127.0.0.1', 'relay-ip': '127.0.0.1', 'listening-port': port,
    'min-port': min, 'max-port': min + 200, 'static-auth-secret': secret,
    pidfile: path.join(dir, 'turnserver.pid'), userdb: path.join(dir, 'turndb'), 'log-file': 'stdout',
  };
  let args;
  if (config === null) {
    args = [
      '-c', '/dev/null', ...Object.entries(plumbing).map(([k, v]) => `--${k}=${v}`),
      '--use-auth-secret', `--realm=${realm}`, '--allow-loopback-peers', '--no-cli', '--no-tls', '--no-dtls',
      '--simple-log', '--verbose',
    ];
  } else {
    const replaced = new Set([...Object.keys(plumbing), 'tls-listening-port', 'cert', 'pkey', 'syslog']);
    const kept = config.split('\n').filter((line) => !replaced.has(line.trim().split('=')[0].trim()));
    const tlsPort = await freePort();
    const lines = [...Object.entries(plumbing).map(([k, v]) => `${k}=${v}`), `tls-listening-port=${tlsPort}`,
      'no-tls', 'no-dtls', 'simple-log', 'verbose'];
    fs.writeFileSync(file, [...kept, '# the test on loopback:', ...lines, ''].join('\n'));
    args = ['-c', file];
    realm = kept.map((l) => l.trim().match(/^realm=(.*)$/)?.[1]).find(Boolean) ?? realm;
  }
  const child = spawn('/usr/bin/turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exited = new Promise((resolve) => child.on('exit', () => { running.delete(child); resolve(); }));
  child.on('error', () => {});
  let log = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (d) => { log = (log + d).slice(-1_000_000); });
  seen.servers.push({ args: ['turnserver', ...args.filter((a) => !a.startsWith('--static-auth-secret'))], stderr: () => log.slice(-4000) });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10000;
  while (!(await stunAnswers(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`turnserver did not start (apt-get install coturn, or cargo xtask test): ${log.slice(-2000)}`);
    }
  }
  return { port, url: `turn:127.0.0.1:${port}?transport=udp`, secret, realm, relayPorts: [min, min + 200], log: () => log, stop };
}

/** Wait until the server at `url` says on /healthz that it is in sync with Redis. */
export async function waitForRedisUp(url, timeout = 15000) {
  await waitFor(`${url} in sync with redis`, async () => {
    const res = await fetch(`${url}/healthz`);
    return (await res.text()) === 'ok\nredis: up\n';
  }, timeout);
}

/**
 * A plain static file server for `dir` (index.html for unknown paths), as a static host would be:
 * no signaling, no precompressed copies, `headers` added to every answer. Returns { url, stop() }.
 */
export async function startStaticServer(dir, headers = {}) {
  const types = {
    '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm',
    '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.webmanifest': 'application/manifest+json',
  };
  const server = http.createServer((req, res) => {
    const wanted = path.join(dir, path.normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)));
    const file = wanted.startsWith(dir) && fs.existsSync(wanted) && fs.statSync(wanted).isFile() ? wanted : path.join(dir, 'index.html');
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-cache', ...headers });
    res.end(fs.readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

/** One person: a fresh browser context and page; console errors and page errors are collected. */
export async function newUser(browser, name, { viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = [];
  // every console line, newest last (bounded): printed by `diagnose` when a test fails
  const log = [];
  const start = Date.now();
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${name} console: ${m.text()}`);
    log.push(`+${Date.now() - start} ms ${m.type()}: ${m.text()}`);
    // an honest link that failed its key proof heals by itself, so no test fails on it: say so
    // here, so that a run shows it happened (and what the first message was)
    if (/is no proof/.test(m.text())) console.log(`${name} (recovered or not): ${m.text()}`);
    if (log.length > 200) log.shift();
  });
  page.on('pageerror', (e) => errors.push(`${name} page error: ${e.message}`));
  const by = (id) => page.getByTestId(id);
  // `widget('tasks')`: the widgets of one kind (their roots carry data-kind).
  const widget = (kind) => by('widget').and(page.locator(`[data-kind="${kind}"]`));
  const user = { name, context, page, errors, log, by, widget };
  seen.users.push(user);
  return user;
}

/** What the users' pages showed and logged (the last 40 console lines each), and what the
 * servers printed: appended to the message of a wait that timed out. */
async function diagnose(users = seen.users) {
  const parts = [];
  for (const u of users) {
    const text = async (id) => {
      const loc = u.by(id).first();
      return (await loc.count()) ? (await loc.textContent())?.trim() : '(none)';
    };
    let state;
    try {
      // a page whose main thread is stuck would not answer: give up on it after a while
      const stuck = new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 3 s')), 3000));
      state = await Promise.race([stuck, (async () => `url ${u.page.url()}, connection "${await text('connection-status')}", peers "${await text('peer-count')}"`)()]);
    } catch (e) {
      state = `page unreadable: ${e.message}`;
    }
    parts.push(`--- ${u.name}: ${state}\n${u.log.slice(-40).join('\n') || '(no console output)'}`);
  }
  for (const s of seen.servers) {
    if (s.stderr()) parts.push(`--- server ${s.args.join(' ')}:\n${s.stderr()}`);
  }
  return parts.join('\n');
}

/** Poll `fn` until it returns a truthy value; fail with `what` after `timeout` ms. */
export async function waitFor(what, fn, timeout = 20000) {
  const start = Date.now();
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() - start > timeout) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})\n${await diagnose()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Wait until the element `testid` (the first one) has exactly `text` (value for inputs). */
export async function waitForText(user, testid, text, timeout) {
  const loc = user.by(testid).first();
  await waitFor(`${user.name} ${testid} = ${JSON.stringify(text)}`, async () => {
    const tag = await loc.evaluate((el) => el.tagName);
    const v = tag === 'INPUT' || tag === 'TEXTAREA' ? await loc.inputValue() : await loc.textContent();
    return v === text;
  }, timeout);
}

export async function valueOf(user, testid, nth = 0) {
  return user.by(testid).nth(nth).inputValue();
}

export async function textOf(user, testid, nth = 0) {
  return user.by(testid).nth(nth).textContent();
}

/** Create a board from the home page; returns its share link. */
export async function createBoard(user, baseUrl) {
  await user.page.goto(baseUrl + '/');
  await user.by('new-board').click();
  await user.page.waitForURL(/\/b#[A-Za-z0-9_-]{22}$/);
  await user.by('add-note').waitFor();
  return user.page.url();
}

export async function openBoard(user, link) {
  await user.page.goto(link);
  await user.by('add-note').waitFor();
}

/** Assert that no console error or page error happened since the last check (the lists are
 * emptied, so each error fails exactly one test). */
export function assertNoConsoleErrors(assert, ...users) {
  const errors = users.flatMap((u) => u.errors.splice(0));
  assert.deepEqual(errors, [], 'the browser console stays free of errors');
}

export function artifact(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/**
 * A Chromium process of our own on a profile directory, driven over CDP, so that a test can
 * kill it with SIGKILL (no unload handlers, no orderly shutdown) and start it again on the same
 * profile.
 */
export async function startProfileBrowser(userDataDir) {
  const child = spawn('/usr/bin/chromium', [
    ...CHROMIUM_ARGS, '--headless', `--user-data-dir=${userDataDir}`, '--remote-debugging-port=0', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('chromium did not start')), 15000);
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`chromium exited with ${code}`)); });
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const browser = await chromium.connectOverCDP(endpoint);
  return {
    browser,
    context: browser.contexts()[0],
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * For a `describe` block: a fresh server (with `options` for startServer) and browser before its
 * tests, both stopped after them. Tests read `env.server` and `env.browser` (and may replace
 * `env.server`, e.g. to restart it).
 */
export function serverAndBrowser(options = {}, { browser: withBrowser = true } = {}) {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await startServer(options);
    if (withBrowser) env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}
