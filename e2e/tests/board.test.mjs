// The walking skeleton, end to end: two and three browsers editing one board over real WebRTC,
// introduced by the real signaling server.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { afterEach, before, describe, test } from 'node:test';
import {
  artifact, assertNoConsoleErrors, createBoard, newUser, openBoard, serverAndBrowser, textOf, valueOf, waitFor, waitForText,
} from '../lib/harness.mjs';

describe('two browsers on one board', () => {
  let a, b, link;
  const env = serverAndBrowser();

  before(async () => {
    a = await newUser(env.browser, 'A');
    b = await newUser(env.browser, 'B');
    link = await createBoard(a, env.server.url);
    await openBoard(b, link);
    await waitForText(a, 'peer-count', '1');
    await waitForText(b, 'peer-count', '1');
  });

  // Normal use keeps the console clean: every test checks what its steps logged.
  afterEach(() => assertNoConsoleErrors(assert, a, b));


  test('both show the share link and are online', async () => {
    assert.equal(await textOf(a, 'share-link'), link);
    assert.equal(await textOf(b, 'share-link'), link);
    await waitForText(a, 'connection-status', 'online');
    await waitForText(b, 'connection-status', 'online');
  });

  test('title, note, tasks and counter edits flow both ways', async () => {
    await a.by('board-title').fill('Sprint 42');
    await waitForText(b, 'board-title', 'Sprint 42');

    await b.by('add-note').click();
    await waitFor('A sees the note', async () => (await a.by('widget').count()) === 1);
    assert.equal(await a.by('widget').first().getAttribute('data-kind'), 'note');
    await a.by('note-text').pressSequentially('Agenda: demo', { delay: 5 });
    await waitForText(b, 'note-text', 'Agenda: demo');

    await a.by('add-tasks').click();
    await waitFor('B sees the tasks widget', async () => (await b.widget('tasks').count()) === 1);
    await b.by('task-input').fill('Write the e2e test');
    await b.by('task-input').press('Enter');
    assert.equal(await valueOf(b, 'task-input'), '', 'Enter clears the input');
    await waitForText(a, 'task-text', 'Write the e2e test');
    await a.by('task-done').first().check();
    await waitFor('B sees the task done', () => b.by('task-done').first().isChecked());
    await b.by('task-done').first().uncheck();
    await waitFor('A sees the task undone', async () => !(await a.by('task-done').first().isChecked()));

    await b.by('add-counter').click();
    await waitFor('A sees the counter', async () => (await a.by('counter-value').count()) === 1);
    await a.by('counter-inc').click();
    await waitForText(b, 'counter-value', '1');
    await b.by('counter-dec').click();
    await b.by('counter-dec').click();
    await waitForText(a, 'counter-value', '-1');
  });

  test('typing into the same note at the same time keeps both texts, emoji and accents intact', async () => {
    await a.by('note-text').fill('');
    await waitForText(b, 'note-text', '');
    await a.by('note-text').fill('|');
    await waitForText(b, 'note-text', '|');
    // A types before the bar, B after it, at the same time.
    await a.by('note-text').focus();
    await a.page.keyboard.press('Home');
    await b.by('note-text').focus();
    await b.page.keyboard.press('End');
    await Promise.all([
      a.page.keyboard.type('café naïve 😀 from A', { delay: 15 }),
      b.page.keyboard.type('crème brûlée 👍🏽 from B', { delay: 15 }),
    ]);
    const [fromA, fromB] = ['café naïve 😀 from A', 'crème brûlée 👍🏽 from B'];
    // Converged: both hold the same text, and nothing typed on either side was lost.
    const final = await waitFor('both notes equal and holding both typed strings', async () => {
      const [ta, tb] = await Promise.all([valueOf(a, 'note-text'), valueOf(b, 'note-text')]);
      return ta === tb && ta.includes(fromA) && ta.includes(fromB) && ta;
    });
    // And each typist's text stayed where they typed it: remote edits keep the local caret.
    assert.equal(final, `${fromA}|${fromB}`);
  });

  test('ten concurrent increments on each side add up to twenty on both', async () => {
    const start = Number(await textOf(a, 'counter-value'));
    await Promise.all([
      (async () => { for (let i = 0; i < 10; i++) await a.by('counter-inc').click(); })(),
      (async () => { for (let i = 0; i < 10; i++) await b.by('counter-inc').click(); })(),
    ]);
    await waitForText(a, 'counter-value', String(start + 20));
    await waitForText(b, 'counter-value', String(start + 20));
  });

  test('a third browser joining later receives the whole board; closing it lowers peer-count', async () => {
    const c = await newUser(env.browser, 'C');
    await openBoard(c, link);
    await waitForText(c, 'peer-count', '2');
    await waitForText(a, 'peer-count', '2');
    await waitForText(b, 'peer-count', '2');
    await waitForText(c, 'board-title', 'Sprint 42');
    await waitForText(c, 'note-text', await valueOf(a, 'note-text'));
    await waitForText(c, 'task-text', 'Write the e2e test');
    await waitForText(c, 'counter-value', await textOf(a, 'counter-value'));
    assert.equal(await c.by('widget').count(), 3);
    assertNoConsoleErrors(assert, c);
    await c.context.close();
    await waitForText(a, 'peer-count', '1');
    await waitForText(b, 'peer-count', '1');
  });

  test('removing a widget removes it for everyone', async () => {
    const before = await b.by('widget').count();
    await a.widget('tasks').getByTestId('widget-remove').click();
    await waitFor('B loses the tasks widget', async () => (await b.by('widget').count()) === before - 1);
    assert.equal(await b.widget('tasks').count(), 0);
    assert.equal(await a.widget('tasks').count(), 0);
  });

  test('a board with every widget kind, screenshotted at laptop and phone width', async () => {
    await a.by('add-tasks').click();
    const input = a.widget('tasks').getByTestId('task-input');
    await input.fill('Ship the walking skeleton');
    await input.press('Enter');
    await input.fill('Harden the sync engine');
    await input.press('Enter');
    await a.by('task-done').first().check();
    await waitFor('B has all three kinds', async () => (await b.widget('tasks').count()) === 1);
    for (const kind of ['note', 'tasks', 'counter']) assert.equal(await a.widget(kind).count(), 1, kind);
    await a.page.screenshot({ path: artifact('board.png'), fullPage: true });
    await a.page.setViewportSize({ width: 390, height: 844 });
    await a.page.screenshot({ path: artifact('board-mobile.png'), fullPage: true });
    await a.page.setViewportSize({ width: 1280, height: 800 });
  });
});

describe('what the server sees', () => {
  const env = serverAndBrowser({ capture: true });

  test('board content and the board secret never reach the signaling server', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await openBoard(b, link);
    await waitForText(a, 'peer-count', '1');
    const secretNote = `note-${crypto.randomUUID()}`;
    const secretTitle = `title-${crypto.randomUUID()}`;
    await a.by('add-note').click();
    await a.by('note-text').waitFor();
    await a.by('note-text').fill(secretNote);
    await a.by('board-title').fill(secretTitle);
    await waitForText(b, 'note-text', secretNote);
    await waitForText(b, 'board-title', secretTitle);
    const captured = fs.readFileSync(env.server.capturePath, 'utf8');
    assert.ok(captured.includes('\\"join'), 'the capture holds what the server received');
    assert.ok(captured.includes('\\"signal'), 'the capture holds the relayed offers, answers and candidates');
    const fragment = new URL(link).hash.slice(1);
    for (const secret of [secretNote, secretTitle, fragment]) {
      assert.ok(!captured.includes(secret), `the server never received ${secret}`);
    }
    // offers, answers and candidates are sealed: no plaintext SDP reaches the server
    for (const sdp of ['v=0', 'a=fingerprint', 'a=ice-ufrag', 'candidate:']) {
      assert.ok(!captured.includes(sdp), `no ${sdp} in what the server received`);
    }
    assertNoConsoleErrors(assert, a, b);
  });
});

describe('links that cannot open a board', () => {
  const env = serverAndBrowser();

  for (const [what, suffix] of [['a truncated link', '/b#abc'], ['a link without a key', '/b'], ['an unknown page', '/nope']]) {
    test(`${what} shows a clear message and a way home`, async () => {
      const u = await newUser(env.browser, 'U');
      await u.page.goto(env.server.url + suffix);
      await u.by('link-error').waitFor();
      assert.match(await textOf(u, 'link-error'), /link|found/i);
      await u.by('go-home').click();
      await u.by('new-board').waitFor();
      assertNoConsoleErrors(assert, u);
      await u.context.close();
    });
  }
});
