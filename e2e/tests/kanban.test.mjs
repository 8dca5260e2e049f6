// The kanban widget: columns renamed, added and removed; cards added, dragged with the pointer
// and moved with the keys, on both peers; two people moving the same cards while apart end with
// each card in exactly one place, never two, never none.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  artifact, assertNoConsoleErrors, createBoard, newUser, openBoard, serverAndBrowser, waitFor,
} from '../lib/harness.mjs';

/** The kanban as `user` shows it: "Column: card card | Column: …". */
function kanbanOf(user) {
  return user.page.evaluate(() => {
    const w = document.querySelector('[data-testid="widget"][data-kind="kanban"]');
    if (!w) return '(no kanban)';
    return [...w.querySelectorAll('[data-testid="kanban-column"]')].map((c) => {
      const cards = [...c.querySelectorAll('[data-testid="kanban-card-text"]')].map((t) => t.value);
      return `${c.querySelector('[data-testid="kanban-column-title"]').value}: ${cards.join(' ')}`;
    }).join(' | ');
  });
}

async function shows(u, expected, timeout) {
  let last;
  await waitFor(`${u.name} shows ${expected}`, async () => (last = await kanbanOf(u)) === expected, timeout)
    .catch((e) => { throw new Error(`${u.name} shows "${last}"\n${e.message}`); });
}
const column = (u, i) => u.by('kanban-column').nth(i);
/** The card whose text field holds `text`. */
async function cardWith(u, text) {
  const n = await u.by('kanban-card').count();
  for (let i = 0; i < n; i++) {
    const c = u.by('kanban-card').nth(i);
    if ((await c.getByTestId('kanban-card-text').inputValue()) === text) return c;
  }
  throw new Error(`${u.name} has no card "${text}"`);
}

async function addCard(u, col, text) {
  const input = column(u, col).getByTestId('kanban-card-input');
  await input.fill(text);
  await input.press('Enter');
}

describe('kanban', () => {
  const env = serverAndBrowser();

  test('columns and cards are edited, dragged and moved with the keys on both peers', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await openBoard(b, link);
    await a.by('add-kanban').click();
    await shows(b, 'To do:  | Doing:  | Done: ');
    await addCard(a, 0, 'alpha');
    await addCard(a, 0, 'beta');
    await addCard(b, 1, 'gamma');
    await shows(a, 'To do: alpha beta | Doing: gamma | Done: ');
    // B renames a column, A edits a card's text
    const title = column(b, 1).getByTestId('kanban-column-title');
    await title.fill('Review');
    await title.press('Enter');
    const beta = (await cardWith(a, 'beta')).getByTestId('kanban-card-text');
    await beta.fill('beta 2');
    await beta.press('Enter');
    await shows(b, 'To do: alpha beta 2 | Review: gamma | Done: ');

    // the pointer: alpha's handle dragged onto the Done column, then gamma's there too, where
    // the middle of the column is alpha's card: before it
    await (await cardWith(a, 'alpha')).getByTestId('kanban-card-handle').dragTo(column(a, 2));
    await shows(b, 'To do: beta 2 | Review: gamma | Done: alpha');
    await (await cardWith(b, 'gamma')).getByTestId('kanban-card-handle').dragTo(column(b, 2));
    await shows(a, 'To do: beta 2 | Review:  | Done: gamma alpha');

    // the keys: beta to the right (Review), again (Done, before gamma), then down below alpha
    const handle = async () => (await cardWith(a, 'beta 2')).getByTestId('kanban-card-handle');
    await (await handle()).focus();
    await a.page.keyboard.press('ArrowRight');
    await shows(a, 'To do:  | Review: beta 2 | Done: gamma alpha');
    // the handle keeps the focus in its new column, so the keys go on moving it
    await waitFor('the moved card keeps the focus', () => a.page.evaluate(() =>
      document.activeElement?.dataset.testid === 'kanban-card-handle'));
    await a.page.keyboard.press('ArrowRight');
    await shows(a, 'To do:  | Review:  | Done: beta 2 gamma alpha');
    await a.page.keyboard.press('ArrowDown');
    await shows(a, 'To do:  | Review:  | Done: gamma beta 2 alpha');
    await waitFor('the focus is back on the handle', () => a.page.evaluate(() =>
      document.activeElement?.dataset.testid === 'kanban-card-handle'));
    await a.page.keyboard.press('ArrowDown');
    await shows(b, 'To do:  | Review:  | Done: gamma alpha beta 2');

    // a column added and one removed: its cards go to the first column
    await b.by('kanban-add-column').click();
    await shows(a, 'To do:  | Review:  | Done: gamma alpha beta 2 | New column: ');
    await column(a, 2).getByTestId('kanban-column-remove').click();
    await shows(b, 'To do: gamma alpha beta 2 | Review:  | New column: ');
    await a.page.screenshot({ path: artifact('kanban.png') });
    assertNoConsoleErrors(assert, a, b);
  });

  test('two people moving the same cards while apart end with each card in one place', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await a.by('add-kanban').click();
    for (const text of ['one', 'two', 'three']) await addCard(a, 0, text);
    await openBoard(b, link);
    await shows(b, 'To do: one two three | Doing:  | Done: ');
    await a.by('offline-toggle').click();
    await b.by('offline-toggle').click();
    await waitFor('apart', async () => (await a.by('peer-count').textContent()) === '0' && (await b.by('peer-count').textContent()) === '0');
    // the same card to different columns, and another to different places
    await (await cardWith(a, 'one')).getByTestId('kanban-card-handle').dragTo(column(a, 1));
    await (await cardWith(b, 'one')).getByTestId('kanban-card-handle').dragTo(column(b, 2));
    await (await cardWith(a, 'three')).getByTestId('kanban-card-handle').dragTo(await cardWith(a, 'two'));
    await (await cardWith(b, 'three')).getByTestId('kanban-card-handle').dragTo(column(b, 1));
    await shows(a, 'To do: three two | Doing: one | Done: ');
    await shows(b, 'To do: two | Doing: three | Done: one');
    await a.by('offline-toggle').click();
    await b.by('offline-toggle').click();
    // they differed while apart: the same on both (and linked again) means merged
    await waitFor('together again, one kanban', async () => (await a.by('peer-count').textContent()) === '1'
      && (await kanbanOf(a)) === (await kanbanOf(b)), 30000);
    const final = await kanbanOf(a);
    const cards = final.split(' | ').flatMap((c) => c.split(': ')[1].split(' ').filter(Boolean)).sort();
    assert.deepEqual(cards, ['one', 'three', 'two'], `every card once, none lost: ${final}`);
    assertNoConsoleErrors(assert, a, b);
  });
});
