// Two signaling instances on one Redis (`--redis-url`): two browsers, each served by and
// connected to its own instance (another origin), meet on one board and edit it together.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  assertNoConsoleErrors, createBoard, launchBrowser, newUser, openBoard, startRedis, startServer, waitFor,
  waitForRedisUp, waitForText,
} from '../lib/harness.mjs';

describe('two browsers on two server instances sharing one Redis', () => {
  let redis, one, two, browser, a, b, link;

  before(async () => {
    redis = await startRedis();
    const args = ['--redis-url', redis.url, '--redis-member-ttl-secs', '3'];
    one = await startServer({ args });
    two = await startServer({ args });
    await waitForRedisUp(one.url);
    await waitForRedisUp(two.url);
    browser = await launchBrowser();
    a = await newUser(browser, 'A');
    b = await newUser(browser, 'B');
  });

  after(async () => {
    await browser?.close();
    await one?.stop();
    await two?.stop();
    await redis?.stop();
  });

  afterEach(() => assertNoConsoleErrors(assert, a, b));

  test('a board link made on one instance opens on the other (the secret is in the fragment)', async () => {
    link = await createBoard(a, one.url);
    const { hash } = new URL(link);
    const there = `${two.url}/b${hash}`;
    assert.notEqual(new URL(there).origin, new URL(link).origin, 'two origins, two instances');
    await openBoard(b, there);
    assert.equal(new URL(b.page.url()).hash, hash);
    // Each page's signaling socket goes to the instance that served it; they meet through Redis.
    await waitForText(a, 'peer-count', '1');
    await waitForText(b, 'peer-count', '1');
    await waitForText(a, 'connection-status', 'online');
    await waitForText(b, 'connection-status', 'online');
  });

  test('edits flow both ways', async () => {
    await a.by('board-title').fill('Two instances');
    await waitForText(b, 'board-title', 'Two instances');

    await b.by('add-note').click();
    await waitFor('A sees the note', async () => (await a.by('widget').count()) === 1);
    await b.by('note-text').pressSequentially('typed on instance two', { delay: 5 });
    await waitForText(a, 'note-text', 'typed on instance two');
    await a.by('note-text').press('End');
    await a.page.keyboard.type(', and on one', { delay: 5 });
    await waitForText(b, 'note-text', 'typed on instance two, and on one');
  });

  test('each instance counts the other one\'s peer', async () => {
    const remote = async (url) => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return Number(text.match(/^meshboard_signaling_remote_peers (\S+)$/m)?.[1]);
    };
    await waitFor('both instances see one remote peer', async () => (await remote(one.url)) === 1 && (await remote(two.url)) === 1);
  });
});
