// The poll widget: a question and options anyone adds, one vote per person (a browser profile,
// not a tab), votes cast at the same moment on two peers both counted, a vote changed, taken
// back and undone; exported to Markdown.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  artifact, assertNoConsoleErrors, createBoard, newUser, openBoard, serverAndBrowser, waitFor,
  waitForText,
} from '../lib/harness.mjs';

/** The poll as `page` shows it: "question | option=count, ... | total", with * on my vote. */
function pollOf(page) {
  return page.evaluate(() => {
    const w = document.querySelector('[data-testid="widget"][data-kind="poll"]');
    if (!w) return '(no poll)';
    const options = [...w.querySelectorAll('[data-testid="poll-option"]')].map((o) => {
      const mine = o.querySelector('[data-testid="poll-vote"]').getAttribute('aria-pressed') === 'true';
      return `${o.querySelector('[data-testid="poll-option-text"]').textContent}=${o.querySelector('[data-testid="poll-count"]').textContent}${mine ? '*' : ''}`;
    });
    return `${w.querySelector('[data-testid="poll-question"]').value} | ${options.join(', ')} | ${w.querySelector('[data-testid="poll-total"]').textContent}`;
  });
}

const shows = (who, page, expected) => waitFor(`${who} shows ${expected}`, async () => (await pollOf(page)) === expected);

describe('poll', () => {
  const env = serverAndBrowser();

  test('two peers voting at the same moment both count; a vote moves, is taken back and undone', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await openBoard(b, link);
    await waitForText(a, 'peer-count', '1');

    await a.by('add-poll').click();
    const question = a.by('poll-question');
    await question.fill('Where do we meet?');
    await question.press('Enter');
    await question.blur();
    for (const option of ['Office', 'Park']) {
      await a.by('poll-option-input').fill(option);
      await a.by('poll-option-input').press('Enter');
    }
    await shows('B', b.page, 'Where do we meet? | Office=0, Park=0 | 0 votes');
    // B adds one too, and A sees it
    await b.by('poll-option-input').fill('Online');
    await b.by('poll-option-input').press('Enter');
    await shows('A', a.page, 'Where do we meet? | Office=0, Park=0, Online=0 | 0 votes');

    // at the same moment: A for Office, B for Park
    await Promise.all([
      a.by('poll-vote').nth(0).click(),
      b.by('poll-vote').nth(1).click(),
    ]);
    await shows('A', a.page, 'Where do we meet? | Office=1*, Park=1, Online=0 | 2 votes');
    await shows('B', b.page, 'Where do we meet? | Office=1, Park=1*, Online=0 | 2 votes');

    // A changes her mind: her vote moves, it is not a second one
    await a.by('poll-vote').nth(2).click();
    await shows('B', b.page, 'Where do we meet? | Office=0, Park=1*, Online=1 | 2 votes');

    // another tab of A's browser is A too: it sees her vote as its own, and voting there
    // moves that one vote
    const tab = await a.context.newPage();
    await tab.goto(link);
    await shows('A\'s second tab', tab, 'Where do we meet? | Office=0, Park=1, Online=1* | 2 votes');
    await tab.getByTestId('poll-vote').nth(1).click();
    await shows('B', b.page, 'Where do we meet? | Office=0, Park=2*, Online=0 | 2 votes');
    await shows('A', a.page, 'Where do we meet? | Office=0, Park=2*, Online=0 | 2 votes');
    await tab.close();

    // B takes his vote back with a second press, then undoes that
    await b.by('poll-vote').nth(1).click();
    await shows('A', a.page, 'Where do we meet? | Office=0, Park=1*, Online=0 | 1 vote');
    await b.by('undo').click();
    await shows('A', a.page, 'Where do we meet? | Office=0, Park=2*, Online=0 | 2 votes');
    await a.page.screenshot({ path: artifact('poll.png') });

    // the Markdown export lists the question and the votes
    await a.by('export-board').click();
    const [download] = await Promise.all([
      a.page.waitForEvent('download'),
      a.by('export-markdown').click(),
    ]);
    const chunks = [];
    for await (const chunk of await download.createReadStream()) chunks.push(chunk);
    const markdown = Buffer.concat(chunks).toString('utf8');
    assert.match(markdown, /## Poll\n\nWhere do we meet\?\n\n- Office: 0 votes\n- Park: 2 votes\n- Online: 0 votes\n/);
    assertNoConsoleErrors(assert, a, b);
  });
});
