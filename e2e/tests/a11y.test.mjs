// Accessibility: axe-core, run in the page, finds no serious or critical violation on the home
// page and on a board with every widget kind and another person on it, light and dark; every
// new control is reachable by keyboard with an accessible name.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import {
  assertNoConsoleErrors, createBoard, newUser, openBoard, serverAndBrowser, waitFor,
} from '../lib/harness.mjs';

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Serious and critical violations axe finds on `user`'s page, one line each. */
async function violations(user) {
  // evaluated through the DevTools protocol: the page's CSP (script-src 'self') does not apply
  await user.page.evaluate(`${axeSource}\n;true`);
  return user.page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')})`);
  });
}

describe('accessibility', () => {
  const env = serverAndBrowser();

  test('the home page and a busy board pass axe, light and dark', async () => {
    const a = await newUser(env.browser, 'A');
    const b = await newUser(env.browser, 'B');
    await a.page.goto(env.server.url + '/');
    await a.by('new-board').waitFor();
    for (const scheme of ['light', 'dark']) {
      // no transitions: axe must see the colours of the scheme, not a blend on the way to them
      await a.page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });
      assert.deepEqual(await violations(a), [], `home page (${scheme})`);
    }
    const link = await createBoard(a, env.server.url);
    await a.by('add-note').click();
    await a.by('add-tasks').click();
    await a.by('add-counter').click();
    await a.by('note-text').fill('Some text');
    await a.by('task-input').fill('A task');
    await a.by('task-input').press('Enter');
    await openBoard(b, link);
    await b.by('note-text').click();
    await waitFor('A sees B', async () => (await a.by('presence-avatar').count()) === 1);
    await waitFor('B\'s caret shows', async () => (await a.by('remote-caret').count()) === 1);
    for (const scheme of ['light', 'dark']) {
      // no transitions: axe must see the colours of the scheme, not a blend on the way to them
      await a.page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });
      assert.deepEqual(await violations(a), [], `board (${scheme})`);
    }

    // the new controls, by keyboard: each gets focus by Tab and has a name
    const names = new Set();
    await a.page.locator('body').focus();
    for (let i = 0; i < 60; i++) {
      await a.page.keyboard.press('Tab');
      const focused = await a.page.evaluate(() => {
        const el = document.activeElement;
        return el ? { id: el.dataset.testid ?? '', name: el.getAttribute('aria-label') || [...(el.labels ?? [])].map((l) => l.textContent.trim()).join(' ')
          || el.textContent.trim() || el.getAttribute('placeholder') || el.getAttribute('title') || '' } : null;
      });
      if (focused?.id) {
        assert.ok(focused.name, `${focused.id} has an accessible name`);
        names.add(focused.id);
      }
    }
    for (const id of ['undo', 'widget-title', 'widget-handle', 'widget-move-earlier', 'widget-move-later', 'widget-size', 'my-name']) {
      assert.ok(names.has(id), `${id} is reachable by Tab (reached: ${[...names].join(', ')})`);
    }
    assertNoConsoleErrors(assert, a, b);
    await a.context.close();
    await b.context.close();
  });
});
