// Own your data: a board exported as a board file (with history), JSON and Markdown; a board
// file opened as a new board and merged back into its board, with the server down and the
// machine offline too; files that are not boards refused with a clear message.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, test } from 'node:test';
import {
  createBoard, newUser, openBoard, serverAndBrowser, textOf, valueOf, waitFor, waitForText,
} from '../lib/harness.mjs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshboard-files-'));

/** Click an export item and return the download's file name and bytes. */
async function exportAs(user, item) {
  await user.by('export-board').click();
  const [download] = await Promise.all([user.page.waitForEvent('download'), user.by(item).click()]);
  const file = path.join(dir, `${user.name}-${Date.now()}-${download.suggestedFilename()}`);
  await download.saveAs(file);
  return { name: download.suggestedFilename(), file, bytes: fs.readFileSync(file) };
}

function write(name, bytes) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** An Automerge compressed change chunk whose body inflates to `mib` MiB of zeros. */
function bombFile(mib) {
  const deflated = zlib.deflateRawSync(Buffer.alloc(mib << 20), { level: 9 });
  const len = [];
  let n = deflated.length;
  do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; len.push(b); } while (n);
  return Buffer.concat([Buffer.from([0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 2, ...len]), deflated]);
}

async function addTask(user, text, nth = 0) {
  await user.by('task-input').nth(nth).fill(text);
  await user.by('task-input').nth(nth).press('Enter');
}

describe('export and import', () => {
  const env = serverAndBrowser();

  test('export three ways, open the file as a new board, merge a copy back, offline too', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    const link = await createBoard(a, env.server.url);
    await a.by('board-title').fill('Release plan');
    await a.by('add-note').click();
    await a.by('note-text').fill('Ship on Friday\nafter the tests');
    await a.by('add-tasks').click();
    await addTask(a, 'write notes');
    await addTask(a, 'tag release');
    await a.by('task-done').first().check();
    await a.by('add-counter').click();
    await a.by('counter-inc').click();
    await a.by('counter-inc').click();
    await waitForText(a, 'counter-value', '2');
    await openBoard(b, link);
    await waitForText(b, 'peer-count', '1');
    await waitForText(b, 'counter-value', '2');

    const board = await exportAs(a, 'export-automerge');
    assert.equal(board.name, 'release-plan.automerge');
    assert.deepEqual([...board.bytes.subarray(0, 4)], [0x85, 0x6f, 0x4a, 0x83]);
    const json = JSON.parse((await exportAs(a, 'export-json')).bytes.toString('utf8'));
    assert.equal(json.format, 'meshboard-board');
    assert.equal(json.version, 1);
    assert.equal(json.title, 'Release plan');
    assert.deepEqual(json.widgets.map((w) => w.kind), ['note', 'tasks', 'counter']);
    assert.equal(json.widgets[0].text, 'Ship on Friday\nafter the tests');
    assert.deepEqual(json.widgets[1].items, [{ text: 'write notes', done: true }, { text: 'tag release', done: false }]);
    assert.equal(json.widgets[2].value, 2);
    const md = (await exportAs(a, 'export-markdown')).bytes.toString('utf8');
    assert.equal(md, '# Release plan\n\n## Note\n\nShip on Friday\nafter the tests\n\n## Tasks\n\n'
      + '- [x] write notes\n- [ ] tag release\n\n## Counter\n\n2\n');

    // the file opens as a new board with a new link and all of the content
    await a.page.goto(env.server.url + '/');
    await a.by('import-file').setInputFiles(board.file);
    await a.page.waitForURL((url) => /^\/b$/.test(url.pathname) && url.href !== link);
    const copyLink = a.page.url();
    await waitForText(a, 'board-title', 'Release plan');
    assert.equal(await valueOf(a, 'note-text'), 'Ship on Friday\nafter the tests');
    assert.equal(await textOf(a, 'counter-value'), '2');
    assert.equal(await a.by('task-done').first().isChecked(), true);
    // someone works on the copy and exports it; A merges that into the board, and B sees it
    await addTask(a, 'from the copy');
    await waitForText(a, 'save-status', 'Saved');
    const copy = await exportAs(a, 'export-automerge');
    await openBoard(a, link);
    await waitForText(a, 'counter-value', '2');
    await a.by('merge-file').setInputFiles(copy.file);
    await waitFor('the merge is reported', async () => /^Merged \S*release-plan\.automerge: 1 change this board/.test(await textOf(a, 'import-status')));
    await waitFor('A shows the merged task', async () => (await a.by('task-text').allTextContents()).includes('from the copy'));
    await waitFor('B gets the merged task', async () => (await b.by('task-text').allTextContents()).includes('from the copy'));

    // with the server gone and the machine offline
    for (const u of [a]) {
      await u.page.evaluate(() => navigator.serviceWorker.ready);
      await waitFor(`${u.name} controlled by the service worker`, () => u.page.evaluate(() => !!navigator.serviceWorker.controller));
    }
    await env.server.stop();
    await a.context.setOffline(true);
    const home = copyLink.replace(/\/b#.*/, '/');
    await a.page.goto(home);
    await a.by('board-list').waitFor();
    const boards = await a.by('board-link').count();
    // delete the board from this browser, then bring it back from its file
    a.page.once('dialog', (d) => d.accept());
    const fragment = new URL(link).hash;
    await a.page.locator(`li:has([data-testid="board-link"][href$="${fragment}"]) [data-testid="delete-board"]`).click();
    await waitFor('the board is deleted', async () => (await a.by('board-link').count()) === boards - 1);
    await a.by('import-file').setInputFiles(board.file);
    await a.page.waitForURL((url) => /^\/b$/.test(url.pathname) && url.href !== link && url.href !== copyLink);
    const restored = a.page.url();
    await waitForText(a, 'board-title', 'Release plan');
    assert.equal(await valueOf(a, 'note-text'), 'Ship on Friday\nafter the tests');
    assert.equal(await textOf(a, 'counter-value'), '2');
    assert.deepEqual(await a.by('task-text').allTextContents(), ['write notes', 'tag release']);
    assert.equal(await a.by('task-done').first().isChecked(), true);

    // a different board does not merge into this one
    await a.page.goto(home);
    await a.by('new-board').click();
    await a.by('add-note').waitFor();
    await a.by('board-title').fill('Another board');
    await a.by('add-counter').click();
    await waitForText(a, 'save-status', 'Saved');
    const other = await exportAs(a, 'export-automerge');
    await openBoard(a, restored);
    await waitForText(a, 'counter-value', '2');
    await a.by('merge-file').setInputFiles(other.file);
    await waitFor('the other board is refused', async () => /copy of another board/.test(await textOf(a, 'import-status')));
    assert.equal(await a.by('widget').count(), 3, 'nothing merged');
    assert.equal(await valueOf(a, 'board-title'), 'Release plan');

    // files that are not boards, truncated, or bombs: a clear message, nothing stored
    await a.page.goto(home);
    await a.by('board-list').waitFor();
    const before = await a.by('board-link').count();
    assert.equal(before, boards + 1, 'one deleted, one restored, one new');
    const refusals = [
      [write('notes.md', md), /notes\.md was not opened\. This is not a Meshboard board file/],
      [write('cut.automerge', board.bytes.subarray(0, board.bytes.length - 20)), /cut\.automerge was not opened\. The file is damaged or truncated/],
      [write('bomb.automerge', bombFile(64)), /bomb\.automerge was not opened\. The file would take more memory/],
      [write('empty.automerge', Buffer.alloc(0)), /The file is empty/],
    ];
    for (const [file, message] of refusals) {
      await a.by('import-file').setInputFiles(file);
      await waitFor(`refused: ${file}`, async () => message.test((await a.by('import-error').textContent({ timeout: 1000 }).catch(() => '')) ?? ''));
      assert.ok(a.page.url().endsWith('/'), 'still on the home page');
    }
    await a.page.reload();
    await a.by('board-list').waitFor();
    assert.equal(await a.by('board-link').count(), before, 'no board was added');
  });
});
