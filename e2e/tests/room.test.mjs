// A room above the full-mesh threshold: nine people (nine browser contexts, so nine profiles) on
// one board, over the real server and real WebRTC. Each page links to at most 6 others (the
// overlay of crdt::session::overlay), so some pairs have no link of their own; an edit and a
// person's presence still reach everyone, through the pages in between.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  artifact, assertNoConsoleErrors, createBoard, newUser, openBoard, serverAndBrowser, waitFor, waitForText,
} from '../lib/harness.mjs';

const PEOPLE = 9;
const MAX_LINKS = 6;

/** The names on the avatars `user` shows, sorted. */
async function avatars(user) {
  const names = await user.by('presence-avatar').evaluateAll((els) => els.map((e) => e.dataset.name));
  return names.sort();
}

async function links(user) {
  return Number(await user.by('peer-count').textContent());
}

/** The names of the people `user` has a link of its own to, from its mesh panel. */
async function linkedNames(user) {
  if (!(await user.by('mesh-panel').count())) await user.by('mesh-open').click();
  await user.by('mesh-panel').waitFor();
  const n = await links(user);
  await waitFor(`${user.name} lists its ${n} links by name`, async () => {
    const names = await user.by('mesh-peer').evaluateAll((els) => els.map((e) => e.dataset.name));
    return names.length === n && names.every((name) => name && name.startsWith('P'));
  });
  const names = await user.by('mesh-peer').evaluateAll((els) => els.map((e) => e.dataset.name));
  await user.by('mesh-close').click();
  return names;
}

describe('a room of nine', () => {
  const env = serverAndBrowser();

  test('each page keeps at most 6 links, and edits and presence reach all through the others', async () => {
    const users = [];
    for (let i = 1; i <= PEOPLE; i++) users.push(await newUser(env.browser, `P${i}`));
    const names = users.map((u) => u.name).sort();
    const link = await createBoard(users[0], env.server.url);
    await users[0].by('add-note').click();
    for (const [i, user] of users.entries()) {
      if (i > 0) await openBoard(user, link);
      await user.by('my-name').fill(user.name);
      await user.by('my-name').press('Enter');
    }

    // the overlay settles: every page is linked, to at most 6 others, and sees all 8 others
    for (const user of users) {
      const others = names.filter((n) => n !== user.name);
      await waitFor(`${user.name} sees everyone else`, async () => {
        const count = await links(user);
        return count >= 2 && count <= MAX_LINKS && (await avatars(user)).join() === others.join();
      }, 60000);
    }
    const counts = await Promise.all(users.map(links));
    console.log(`links per page: ${counts.join(' ')}`);
    assert.ok(counts.every((c) => c <= MAX_LINKS), `${counts}`);

    // somebody typing to somebody they have no link to
    const reader = users[0];
    const direct = await linkedNames(reader);
    assert.ok(direct.length <= MAX_LINKS && !direct.includes(reader.name), `${direct}`);
    const writer = users.find((u) => u !== reader && !direct.includes(u.name));
    assert.ok(writer, `${reader.name} links to ${direct}: someone has no link of their own to it`);
    await writer.widget('note').getByTestId('note-text').waitFor();
    await writer.by('note-text').pressSequentially(`hello from ${writer.name}`, { delay: 10 });
    for (const user of users) await waitForText(user, 'note-text', `hello from ${writer.name}`, 30000);
    // and that writer shows, in their place, on the reader who never linked to them
    await waitFor(`${reader.name} sees ${writer.name} in the note`, async () => {
      const labels = await reader.widget('note').getByTestId('widget-presence')
        .evaluateAll((els) => els.map((e) => e.dataset.name));
      return labels.includes(writer.name);
    });
    await reader.page.screenshot({ path: artifact('room-of-nine.png') });

    // a leaving page says goodbye: everyone else stops showing it, links or not
    const leaver = users.pop();
    await leaver.context.close();
    for (const user of users) {
      await waitFor(`${user.name} no longer shows ${leaver.name}`, async () => !(await avatars(user)).includes(leaver.name), 20000);
    }
    assertNoConsoleErrors(assert, ...users);
    for (const user of users) await user.context.close();
  });
});
