// The app served by a plain static host, the signaling server on another origin
// (docs/self-hosting.md, "The app on a static host").
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  assertNoConsoleErrors, copyOfDist, createBoard, launchBrowser, newUser, openBoard, startServer, startStaticServer,
  textOf, waitForText,
} from '../lib/harness.mjs';

/** A static host for a copy of dist/, with the CSP an operator would configure there for the
 * signaling origin `ws`; `point(ws)` names that server in its index.html (files are read on each
 * request, so the site can be started first and its origin given to the signaling server). */
async function staticHost(ws) {
  const dist = copyOfDist();
  const site = await startStaticServer(dist, {
    'content-security-policy': `default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' ${ws}; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'`,
  });
  site.point = (url) => {
    const index = path.join(dist, 'index.html');
    const html = fs.readFileSync(index, 'utf8');
    const edited = html.replace(/<meta name="meshboard-signaling" content="[^"]*"/, `<meta name="meshboard-signaling" content="${url}"`);
    assert.notEqual(edited, html, 'dist/index.html has the meshboard-signaling meta tag');
    fs.writeFileSync(index, edited);
  };
  return site;
}

/** A free port on 127.0.0.1 (for a server whose origin must be known before it starts). */
async function freePort() {
  const probe = await startStaticServer(copyOfDist());
  const port = new URL(probe.url).port;
  await probe.stop();
  return Number(port);
}

describe('the app on a static host, signaling elsewhere', () => {
  const env = {};
  before(async () => {
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    for (const s of [env.site, env.signaling, env.other]) await s?.stop();
  });

  test('two browsers sync through a signaling server that allows the site\'s origin', async () => {
    // the site's CSP names the signaling origin and the signaling server names the site's
    const port = await freePort();
    const ws = `ws://127.0.0.1:${port}`;
    env.site = await staticHost(ws);
    env.signaling = await startServer({ port, dist: null, args: ['--allowed-origin', env.site.url] });
    env.site.point(`${ws}/ws`);

    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.site.url);
    await a.by('add-note').click();
    await a.by('note-text').fill('from a static host');
    await openBoard(b, link);
    await waitForText(b, 'peer-count', '1');
    await waitForText(b, 'note-text', 'from a static host');
    await b.by('board-title').fill('Apart');
    await waitForText(a, 'board-title', 'Apart');
    assert.equal(new URL(a.page.url()).origin, env.site.url);
    assertNoConsoleErrors(assert, a, b);
  });

  test('a signaling server that does not list the site refuses it', async () => {
    env.other = await startServer({ dist: null });
    const ws = env.other.url.replace(/^http/, 'ws');
    const site = await staticHost(ws);
    site.point(`${ws}/ws`);
    try {
      const u = await newUser(env.browser, 'U');
      await createBoard(u, site.url);
      await new Promise((r) => setTimeout(r, 2500));
      assert.notEqual(await textOf(u, 'connection-status'), 'online');
      assert.ok(u.errors.splice(0).some((e) => /Unexpected response code: 403/.test(e)), 'the handshake was refused');
    } finally {
      await site.stop();
    }
  });
});
