// Layout: widget titles, widths and places sync; moves from two people at once (both offline,
// then back) converge to one order with every widget once; the pointer and the keyboard move too.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  assertNoConsoleErrors, createBoard, newUser, openBoard, serverAndBrowser, waitFor,
} from '../lib/harness.mjs';

/** The widgets' ids in the order `user` shows them. */
async function order(user) {
  return user.by('widget').evaluateAll((els) => els.map((e) => e.dataset.id));
}

/** The widgets' kinds in the order `user` shows them. */
async function kinds(user) {
  return (await user.by('widget').evaluateAll((els) => els.map((e) => e.dataset.kind))).join(',');
}

describe('layout', () => {
  const env = serverAndBrowser();

  test('titles, widths and moves sync; pointer and keys move widgets', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await a.by('add-note').click();
    await a.by('add-tasks').click();
    await a.by('add-counter').click();
    await openBoard(b, link);
    await waitFor('B has the three', async () => (await kinds(b)) === 'note,tasks,counter');

    // a title, edited by both
    await a.widget('note').getByTestId('widget-title').fill('Ideas');
    await waitFor('B sees the title', async () => (await b.widget('note').getByTestId('widget-title').inputValue()) === 'Ideas');
    await b.widget('note').getByTestId('widget-title').press('End');
    await b.page.keyboard.type(' for May');
    await waitFor('A sees B\'s words', async () => (await a.widget('note').getByTestId('widget-title').inputValue()) === 'Ideas for May');
    assert.equal(await a.widget('tasks').getByTestId('widget-title').getAttribute('placeholder'), 'Untitled');

    // widths cycle 1, 2, 3, 1 and the card grows
    const width = async (u) => (await u.widget('note').boundingBox()).width;
    const narrow = await width(b);
    await a.widget('note').getByTestId('widget-size').click();
    await waitFor('B shows the note 2 wide', async () => (await b.widget('note').getByTestId('widget-size').getAttribute('data-size')) === '2');
    assert.ok((await width(b)) > narrow * 1.8, 'two columns are about twice as wide');
    await a.widget('note').getByTestId('widget-size').click();
    await a.widget('note').getByTestId('widget-size').click();
    await waitFor('back to 1', async () => (await b.widget('note').getByTestId('widget-size').getAttribute('data-size')) === '1');

    // buttons, keys and the pointer
    await a.widget('note').getByTestId('widget-move-later').click();
    await waitFor('B: the note moved later', async () => (await kinds(b)) === 'tasks,note,counter');
    await a.widget('counter').getByTestId('widget-move-earlier').click();
    await waitFor('B: the counter moved earlier', async () => (await kinds(b)) === 'tasks,counter,note');
    await a.widget('note').getByTestId('widget-handle').focus();
    await a.page.keyboard.press('ArrowLeft');
    await waitFor('B: the note moved by key', async () => (await kinds(b)) === 'tasks,note,counter');
    await new Promise((r) => setTimeout(r, 600)); // the drag is a step of its own
    await a.widget('counter').getByTestId('widget-handle').dragTo(a.widget('tasks'));
    await waitFor('B: the counter was dragged first', async () => (await kinds(b)) === 'counter,tasks,note');
    assert.equal(await kinds(a), 'counter,tasks,note');
    // a move and a resize are undone like any edit
    await new Promise((r) => setTimeout(r, 600));
    await a.by('undo').click();
    await waitFor('B: the drag is undone', async () => (await kinds(b)) === 'tasks,note,counter');
    await a.widget('tasks').getByTestId('widget-size').click();
    await waitFor('B: tasks 2 wide', async () => (await b.widget('tasks').getByTestId('widget-size').getAttribute('data-size')) === '2');
    await new Promise((r) => setTimeout(r, 600));
    await a.page.keyboard.press('Control+z');
    await waitFor('B: the resize is undone', async () => (await b.widget('tasks').getByTestId('widget-size').getAttribute('data-size')) === '1');
    assertNoConsoleErrors(assert, a, b);
    await a.context.close();
    await b.context.close();
  });

  test('two people moving widgets at once end with one order and every widget once', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    for (const kind of ['note', 'tasks', 'counter', 'note', 'tasks']) await a.by(`add-${kind}`).click();
    await openBoard(b, link);
    await waitFor('B has five', async () => (await b.by('widget').count()) === 5);
    const start = await order(a);
    assert.deepEqual(await order(b), start);
    // apart: each moves the first widget, and another one, in different ways
    await a.by('offline-toggle').click();
    await b.by('offline-toggle').click();
    await waitFor('apart', async () => (await a.by('peer-count').textContent()) === '0' && (await b.by('peer-count').textContent()) === '0');
    const move = async (u, id, testid, times) => {
      for (let i = 0; i < times; i++) await u.page.locator(`[data-id="${id}"]`).getByTestId(testid).click();
    };
    await move(a, start[0], 'widget-move-later', 3);
    await move(a, start[4], 'widget-move-earlier', 2);
    await move(b, start[0], 'widget-move-later', 1);
    await move(b, start[2], 'widget-move-later', 2);
    assert.notDeepEqual(await order(a), await order(b), 'they differ while apart');
    await a.by('offline-toggle').click();
    await b.by('offline-toggle').click();
    await waitFor('together again, one order', async () => {
      const [oa, ob] = [await order(a), await order(b)];
      return oa.length === 5 && JSON.stringify(oa) === JSON.stringify(ob);
    }, 30000);
    const final = await order(a);
    assert.deepEqual([...final].sort(), [...start].sort(), 'every widget once, none lost');
    assertNoConsoleErrors(assert, a, b);
    await a.context.close();
    await b.context.close();
  });
});
