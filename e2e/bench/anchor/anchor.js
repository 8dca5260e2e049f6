// The Yjs anchor of `cargo xtask bench`: Yjs 13.6 + y-webrtc 10.3 + y-indexeddb, with Meshboard's
// UI contract (`new-board` on the home page; on `/b#<room>`: `board-title`, one `note-text`
// textarea, `peer-count`). Bundled by esbuild at bench time; SIGNALING is defined then.
import * as Y from 'yjs';
import { WebrtcProvider } from 'y-webrtc';
import { IndexeddbPersistence } from 'y-indexeddb';

/* global SIGNALING */
const root = document.getElementById('root');
const el = (tag, attrs = {}, text = '') => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
};

function home() {
  const button = el('button', { 'data-testid': 'new-board' }, 'New board');
  button.onclick = () => {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const room = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    location.assign(`/b#${room}`);
  };
  root.append(el('h1', {}, 'Yjs anchor'), button);
}

async function board(room) {
  const doc = new Y.Doc();
  const text = doc.getText('note');
  const stored = new IndexeddbPersistence(room, doc);
  await stored.whenSynced;
  const provider = new WebrtcProvider(room, doc, { signaling: [SIGNALING] });
  const title = el('h1', { 'data-testid': 'board-title' }, 'Board');
  const peers = el('span', { 'data-testid': 'peer-count' }, '0');
  provider.on('peers', (e) => { peers.textContent = String(e.webrtcPeers.length); });
  const note = el('textarea', { 'data-testid': 'note-text', class: 'note-text' });
  note.value = text.toString();
  // local input: the one spliced range (common prefix and suffix of old and new value)
  note.addEventListener('input', () => {
    const old = text.toString();
    const now = note.value;
    let start = 0;
    while (start < old.length && start < now.length && old[start] === now[start]) start++;
    let end = 0;
    while (end < old.length - start && end < now.length - start
      && old[old.length - 1 - end] === now[now.length - 1 - end]) end++;
    doc.transact(() => {
      if (old.length - start - end > 0) text.delete(start, old.length - start - end);
      if (now.length - start - end > 0) text.insert(start, now.slice(start, now.length - end));
    }, 'local');
  });
  // remote changes: applied at their range, the caret and selection kept
  text.observe((event) => {
    if (event.transaction.origin === 'local') return;
    let pos = 0;
    for (const op of event.delta) {
      if (op.retain) pos += op.retain;
      else if (op.delete) note.setRangeText('', pos, pos + op.delete, 'preserve');
      else if (op.insert) {
        note.setRangeText(op.insert, pos, pos, 'preserve');
        pos += op.insert.length;
      }
    }
  });
  root.append(title, el('p', {}, 'peers: '), peers, note);
  // bench hooks: seed the document with an update; its encoded size; persisted?
  window.__yjs = {
    apply(b64) { Y.applyUpdate(doc, Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), 'seed'); },
    updateBytes: () => Y.encodeStateAsUpdate(doc).length,
    async flushed() {
      // y-indexeddb writes each update at once; wait for a read after the write
      await new Promise((r) => setTimeout(r, 100));
      return true;
    },
  };
}

const m = location.pathname === '/b' && location.hash.match(/^#([A-Za-z0-9_-]{22})$/);
if (m) board(m[1]); else home();
