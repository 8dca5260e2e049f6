// History: edit sessions of two people listed newest first, an old version viewed read-only
// with what it changed highlighted, and restored as new changes that reach the other peer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  assertNoConsoleErrors, createBoard, newUser, openBoard, serverAndBrowser, textOf, valueOf, waitFor, waitForText,
} from '../lib/harness.mjs';

describe('history', () => {
  const env = serverAndBrowser();

  test('two people\'s sessions are listed; an old version shows and is restored on both sides', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    // a friendly default name first, then their own
    assert.match(await a.by('my-name').inputValue(), /^[A-Z][a-z]+ [A-Z][a-z]+$/);
    await a.by('my-name').fill('Alice');
    await a.by('my-name').press('Enter');
    await a.by('board-title').fill('Plan');
    await a.by('add-note').click();
    await a.by('note-text').fill('first draft');
    await openBoard(b, link);
    await waitForText(b, 'note-text', 'first draft');
    await b.by('my-name').fill('Bob');
    await b.by('my-name').press('Enter');
    await b.by('note-text').fill('first draft, rewritten by B');
    await b.by('add-counter').click();
    await waitForText(a, 'note-text', 'first draft, rewritten by B');
    await waitForText(a, 'counter-value', '0');

    await a.by('history-open').click();
    await a.by('history-panel').waitFor();
    await waitFor('two sessions listed', async () => (await a.by('history-item').count()) === 2);
    const authors = await a.by('history-item').evaluateAll((els) => els.map((e) => e.dataset.author));
    assert.equal(authors[1], 'Alice (you)', 'the oldest is A\'s own');
    assert.equal(authors[0], 'Bob', 'the newest is B\'s, by the name B recorded on the board');
    const summaries = await a.page.locator('.history-summary').allTextContents();
    assert.equal(summaries[1], 'Renamed the board, added a note');
    assert.equal(summaries[0], 'Added a counter, edited note “first draft, rewritten by B”');

    // A's version: her text, no counter, her note highlighted
    await a.by('history-item').nth(1).click();
    await a.by('history-view').waitFor();
    assert.equal(await textOf(a, 'version-title'), 'Plan');
    assert.equal(await textOf(a, 'version-note'), 'first draft');
    assert.equal(await a.by('version-widget').count(), 1);
    assert.equal(await a.by('version-widget').first().getAttribute('data-changed'), 'true');
    assert.equal(await a.by('note-text').isVisible(), false, 'the live board is not shown meanwhile');
    await a.by('history-back').click();
    await waitForText(a, 'note-text', 'first draft, rewritten by B');

    // restore it: new changes, on both sides
    await a.by('history-item').nth(1).click();
    await a.by('history-restore').click();
    await waitForText(a, 'note-text', 'first draft');
    await waitFor('the counter is gone on A', async () => (await a.by('counter-value').count()) === 0);
    await waitForText(b, 'note-text', 'first draft');
    await waitFor('the counter is gone on B', async () => (await b.by('counter-value').count()) === 0);
    // nothing was rewritten: the restore is the newest session, the others are still there
    await waitFor('three sessions listed', async () => (await a.by('history-item').count()) === 3);
    assert.equal(await a.by('history-item').first().getAttribute('data-author'), 'Alice (you)');
    // the name stays for the next board and the next visit
    await a.page.reload();
    assert.equal(await a.by('my-name').inputValue(), 'Alice');
    assert.equal(await valueOf(b, 'board-title'), 'Plan');
    assertNoConsoleErrors(assert, a, b);
  });
});
