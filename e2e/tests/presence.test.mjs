// Presence: who is on the board (avatars), which widget each person is in (a ring and a label)
// and where their caret is in a note, over the real server and real WebRTC between contexts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  artifact, assertNoConsoleErrors, createBoard, newUser, openBoard, serverAndBrowser, waitFor, waitForText,
} from '../lib/harness.mjs';

async function rename(user, name) {
  await user.by('my-name').fill(name);
  await user.by('my-name').press('Enter');
}

/** The names on the avatars `user` shows, sorted. */
async function avatars(user) {
  const names = await user.by('presence-avatar').evaluateAll((els) => els.map((e) => e.dataset.name));
  return names.sort().join(',');
}

/** The text before `name`'s caret in the first note, as `user`'s caret layer lays it out. */
async function textBeforeCaret(user, name) {
  return user.page.evaluate((name) => {
    const caret = [...document.querySelectorAll('[data-testid="remote-caret"]')].find((c) => c.dataset.name === name);
    if (!caret) return null;
    let text = '';
    for (let n = caret.parentNode.firstChild; n && n !== caret; n = n.nextSibling) text += n.textContent;
    return text;
  }, name);
}

/** Whether `name`'s caret is drawn inside the note's field, on the line of the text before it. */
async function caretInsideField(user, name) {
  return user.page.evaluate((name) => {
    const caret = [...document.querySelectorAll('[data-testid="remote-caret"]')].find((c) => c.dataset.name === name);
    const field = document.querySelector('[data-testid="note-text"]');
    if (!caret || !field) return false;
    const c = caret.getBoundingClientRect();
    const f = field.getBoundingClientRect();
    return c.height > 0 && c.left >= f.left && c.right <= f.right && c.top >= f.top && c.bottom <= f.bottom;
  }, name);
}

describe('presence', () => {
  const env = serverAndBrowser();

  test('each person shows as an avatar on the others and vanishes when they leave', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const c = await newUser(env.browser, 'C');
    const link = await createBoard(a, env.server.url);
    await rename(a, 'Alice');
    await openBoard(b, link);
    await rename(b, 'Bob');
    await openBoard(c, link);
    await rename(c, 'Carol');
    await waitFor('A sees Bob and Carol', async () => (await avatars(a)) === 'Bob,Carol');
    await waitFor('B sees Alice and Carol', async () => (await avatars(b)) === 'Alice,Carol');
    await waitFor('C sees Alice and Bob', async () => (await avatars(c)) === 'Alice,Bob');
    // a second tab of Bob's profile is still one person
    const b2 = await b.context.newPage();
    await b2.goto(link);
    await b2.getByTestId('add-note').waitFor();
    await waitFor('B\'s second tab links up', async () => (await b2.getByTestId('peer-count').textContent()) === '2');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await avatars(a), 'Bob,Carol', 'two tabs of one browser are one avatar');
    await b2.close();

    // a rename shows on the others
    await rename(c, 'Caroline');
    await waitFor('A sees the new name', async () => (await avatars(a)) === 'Bob,Caroline');
    // leaving: gone on the others well within the timeout
    await c.context.close();
    await waitFor('Caroline is gone on A', async () => (await avatars(a)) === 'Bob', 16000);
    await waitFor('Caroline is gone on B', async () => (await avatars(b)) === 'Alice', 16000);
    assertNoConsoleErrors(assert, a, b);
    await a.context.close();
    await b.context.close();
  });

  test('a widget focus and a caret show on the other side, in place while text is added before it', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await rename(a, 'Alice');
    await a.by('add-note').click();
    await a.by('add-counter').click();
    await a.by('note-text').fill('hello world');
    await a.by('board-title').click();
    await openBoard(b, link);
    await rename(b, 'Bob');
    await waitForText(b, 'note-text', 'hello world');
    await waitFor('B sees Alice', async () => (await avatars(b)) === 'Alice');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await b.by('remote-caret').count(), 0, 'no caret while Alice is out of the note');

    // Alice puts her caret before "world"
    await a.by('note-text').click();
    await a.page.keyboard.press('End');
    for (let i = 0; i < 5; i++) await a.page.keyboard.press('ArrowLeft');
    const note = b.widget('note');
    await waitFor('B sees Alice in the note', async () => (await note.getByTestId('widget-presence').getAttribute('data-name')) === 'Alice');
    assert.equal(await b.widget('counter').getByTestId('widget-presence').count(), 0, 'only on the widget she is in');
    await waitFor('B sees her caret before "world"', async () => (await textBeforeCaret(b, 'Alice')) === 'hello ');
    assert.ok(await caretInsideField(b, 'Alice'), 'the caret is drawn in the field');

    // Bob types before it: the caret stays before "world", on both sides' texts
    await b.by('note-text').click();
    await b.page.keyboard.press('Control+Home');
    await b.page.keyboard.type('oh, ');
    await waitForText(a, 'note-text', 'oh, hello world');
    await waitFor('B still sees Alice\'s caret before "world"', async () => (await textBeforeCaret(b, 'Alice')) === 'oh, hello ');
    await waitFor('A sees Bob\'s caret after "oh, "', async () => (await textBeforeCaret(a, 'Bob')) === 'oh, ');

    // a selection shows in her colour
    for (let i = 0; i < 5; i++) await a.page.keyboard.press('Shift+ArrowRight');
    await waitFor('B sees Alice\'s selection', async () => {
      const selected = await b.page.locator('.remote-selection').allTextContents();
      return selected.join('') === 'world';
    });
    await b.page.screenshot({ path: artifact('presence-caret.png') });

    // Alice moves to the counter: the note shows nobody, the counter shows her
    await a.by('counter-inc').focus();
    await waitFor('her caret is gone on B', async () => (await b.by('remote-caret').count()) === 0);
    await waitFor('B sees Alice on the counter', async () => (await b.widget('counter').getByTestId('widget-presence').count()) === 1);
    assert.equal(await note.getByTestId('widget-presence').count(), 0);
    assertNoConsoleErrors(assert, a, b);
    await a.context.close();
    await b.context.close();
  });

  test('three people on a board, screenshotted at laptop and phone width, light and dark', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const c = await newUser(env.browser, 'C');
    const link = await createBoard(a, env.server.url);
    await rename(a, 'Alice Archer');
    await a.by('board-title').fill('Launch plan');
    await a.by('add-note').click();
    await a.by('add-tasks').click();
    await a.by('add-counter').click();
    await a.by('note-text').fill('Ship the beta on Friday.\nWrite the release notes first.');
    await a.by('task-input').fill('Book the room');
    await a.by('task-input').press('Enter');
    await openBoard(b, link);
    await rename(b, 'Bob Brown');
    await openBoard(c, link);
    await rename(c, 'Carol Chen');
    await waitFor('A sees both', async () => (await avatars(a)) === 'Bob Brown,Carol Chen');
    // Bob in the note with his caret after "beta", Carol on the tasks
    await b.by('note-text').click();
    await b.page.keyboard.press('Control+Home');
    for (let i = 0; i < 13; i++) await b.page.keyboard.press('ArrowRight');
    await c.by('task-input').focus();
    await waitFor('A sees Bob\'s caret', async () => (await textBeforeCaret(a, 'Bob Brown')) === 'Ship the beta');
    await waitFor('A sees Carol on the tasks', async () => (await a.widget('tasks').getByTestId('widget-presence').count()) === 1);
    for (const scheme of ['light', 'dark']) {
      await a.page.emulateMedia({ colorScheme: scheme });
      for (const [name, size] of [['laptop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
        await a.page.setViewportSize(size);
        await new Promise((r) => setTimeout(r, 200));
        await a.page.screenshot({ path: artifact(`presence-three-people-${name}-${scheme}.png`), fullPage: true });
        // nothing of the top bar spills out of the page
        const overflow = await a.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
        assert.equal(overflow, false, `no sideways scrolling at ${name} width (${scheme})`);
      }
    }
    assertNoConsoleErrors(assert, a, b, c);
    for (const u of [a, b, c]) await u.context.close();
  });
});
