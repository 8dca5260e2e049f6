// Undo and redo: each kind of edit taken back and done again from the top bar and the keys, as
// new changes that reach the other peer; my typing undone while a peer typed in the same note
// leaves the peer's text.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  assertNoConsoleErrors, createBoard, newUser, openBoard, serverAndBrowser, waitFor, waitForText,
} from '../lib/harness.mjs';

/** What `user`'s board holds, in a line: title | each widget's kind and content. */
async function board(user) {
  return user.page.evaluate(() => {
    const title = document.querySelector('[data-testid="board-title"]')?.value ?? '';
    const widgets = [...document.querySelectorAll('[data-testid="widget"]')].map((w) => {
      const kind = w.dataset.kind;
      if (kind === 'note') return `note:${w.querySelector('[data-testid="note-text"]').value}`;
      if (kind === 'counter') return `counter:${w.querySelector('[data-testid="counter-value"]').textContent}`;
      const tasks = [...w.querySelectorAll('[data-testid="task-item"]')].map((t) =>
        `${t.querySelector('[data-testid="task-done"]').checked ? 'x' : ' '}${t.querySelector('[data-testid="task-text"]').textContent}`);
      return `tasks:[${tasks.join(',')}]`;
    });
    return [title, ...widgets].join(' | ');
  });
}

/** Both users show `expected`. */
async function both(a, b, expected) {
  await waitFor(`A shows ${expected}`, async () => (await board(a)) === expected);
  await waitFor(`B shows ${expected}`, async () => (await board(b)) === expected);
}

// each edit waits out the 500 ms that would join it to the one before
const pause = () => new Promise((r) => setTimeout(r, 650));

describe('undo', () => {
  const env = serverAndBrowser();

  test('every kind of edit is undone and redone, on both peers', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await openBoard(b, link);
    await waitFor('linked', async () => (await a.by('peer-count').textContent()) === '1');
    assert.equal(await a.by('undo').isDisabled(), true, 'nothing to undo yet');
    assert.equal(await a.by('redo').isDisabled(), true);

    const states = [await board(a)];
    const step = async (what) => {
      await what();
      await pause();
      states.push(await board(a));
    };
    await step(() => a.by('board-title').fill('Plan'));
    await step(() => a.by('add-note').click());
    await step(() => a.by('note-text').fill('hello'));
    await step(() => a.by('add-counter').click());
    await step(() => a.by('counter-inc').click());
    await step(() => a.by('add-tasks').click());
    await step(async () => { await a.by('task-input').fill('milk'); await a.by('task-input').press('Enter'); });
    await step(() => a.by('task-done').check());
    await step(() => a.by('widget-remove').first().click()); // the note goes
    assert.equal(states.at(-1), 'Plan | counter:1 | tasks:[xmilk]');
    await both(a, b, states.at(-1));

    // undo all nine, alternating the button and the key, checking both peers each time
    for (let i = states.length - 2; i >= 0; i--) {
      if (i % 2) await a.by('undo').click();
      else await a.page.keyboard.press('Control+z');
      await both(a, b, states[i]);
    }
    assert.equal(await a.by('undo').isDisabled(), true, 'all undone');
    // and redo them all
    for (let i = 1; i < states.length; i++) {
      if (i % 2) await a.by('redo').click();
      else await a.page.keyboard.press(i % 4 ? 'Control+Shift+Z' : 'Control+y');
      await both(a, b, states[i]);
    }
    assert.equal(await a.by('redo').isDisabled(), true, 'all redone');
    // B never edited: B has nothing to undo
    assert.equal(await b.by('undo').isDisabled(), true, 'a peer\'s changes are not mine to undo');
    assertNoConsoleErrors(assert, a, b);
    await a.context.close();
    await b.context.close();
  });

  test('undoing my typing keeps what a peer typed in the same note meanwhile', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await a.by('add-note').click();
    await a.by('note-text').fill('one three');
    await openBoard(b, link);
    await waitForText(b, 'note-text', 'one three');
    await pause();
    // A types " two" after "one" (one step: within half a second), B appends " four"
    await a.by('note-text').click();
    await a.page.keyboard.press('Control+Home');
    for (let i = 0; i < 3; i++) await a.page.keyboard.press('ArrowRight');
    await a.page.keyboard.type(' two');
    await b.by('note-text').click();
    await b.page.keyboard.press('Control+End');
    await b.page.keyboard.type(' four');
    await waitForText(a, 'note-text', 'one two three four');
    await waitForText(b, 'note-text', 'one two three four');
    await a.page.keyboard.press('Control+z');
    await waitForText(a, 'note-text', 'one three four');
    await waitForText(b, 'note-text', 'one three four');
    await a.page.keyboard.press('Control+Shift+Z');
    await waitForText(b, 'note-text', 'one two three four');
    // B's own undo takes back B's text only
    await b.page.keyboard.press('Control+z');
    await waitForText(a, 'note-text', 'one two three');
    assertNoConsoleErrors(assert, a, b);
    await a.context.close();
    await b.context.close();
  });
});
