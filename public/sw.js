// Meshboard's service worker: keeps one version of the app so that boards open without a server,
// and takes a new version only when the user says so.
//
// Versions. `cargo xtask` stamps VERSION below with a hash of the build's index.html and of this
// file, so every build that changes anything the page loads is a new sw.js, which the browser
// notices (it checks sw.js on every navigation and when the page calls `update()`). Each version
// keeps its shell (index.html) and every file it references (Trunk's hashed JS, wasm and CSS,
// the scripts, icons, manifest) in a cache of its own, `meshboard-VERSION`, filled completely at
// install or not at all.
//
// Updates. On a first visit there is nothing to protect: the worker activates at once and claims
// the page. When a version is already active, a new one installs and then *waits*: every tab keeps
// running the active version, and every navigation to an app route (/, /b, /index.html) is
// answered from the active version's cached shell, never from the network, so the code that runs
// is the code the user already had, whatever the server now sends. The page (register-sw.js) sees
// the waiting worker and shows "A new version is available"; on accept it posts `skip-waiting`,
// the new worker activates, deletes the older versions' caches, claims the tabs, and the tab that
// accepted reloads into the new version (other open tabs are told and reload on their own click).
//
// - Only the app's own HTML becomes a shell: a text/html answer for an app route. A navigation to
//   anything else (/icon.svg) goes to the network, with the shell as the offline fallback.
// - Other GET requests of this origin are served from this version's cache first, then the
//   network (and then kept in this version's cache).
// - /ws, /healthz and /metrics are never touched.
// - If the active version's cache has no shell (evicted), navigations go to the network.
// - Known gaps: a Shift+Reload bypasses the worker and runs whatever the server sends; if a third
//   version starts installing while the second is activating, the second's activate may delete
//   the third's cache while it fills; that version then finds no shell and answers navigations
//   from the network (the rule above) until the next one.
const VERSION = 'dev';
const CACHE = `meshboard-${VERSION}`;
const SHELL = '/index.html';
const APP_ROUTES = ['/', '/b', '/index.html'];
const STATIC = ['/icon.svg', '/icon-192.png', '/icon-512.png', '/manifest.webmanifest'];
const BYPASS = ['/ws', '/healthz', '/metrics', '/sw.js'];

/** Whether `response`, the answer to a request for `url`, is the app's HTML. */
function isShell(url, response) {
  const type = response.headers.get('content-type') || '';
  return response.ok && APP_ROUTES.includes(url.pathname) && /^text\/html\b/i.test(type);
}

/** The same-origin files an index.html loads. */
function assetsOf(html) {
  const urls = new Set(STATIC);
  for (const m of html.matchAll(/(?:href|src|data-js|data-wasm)="(\/[^"]+)"/g)) urls.add(m[1]);
  return [...urls].filter((u) => !u.startsWith('//'));
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const response = await fetch(SHELL, { cache: 'no-cache' });
    if (!isShell(new URL(SHELL, self.location.origin), response)) {
      throw new Error(`no app shell at ${SHELL} (${response.status})`);
    }
    const cache = await caches.open(CACHE);
    const html = await response.clone().text();
    // all or nothing: a version that cannot start offline is not installed (the browser retries)
    await cache.addAll(assetsOf(html).map((u) => new Request(u, { cache: 'no-cache' })));
    await cache.put(SHELL, response);
    // a first visit has no version to keep: take over now; otherwise wait for the user
    if (!self.registration.active) await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data?.type === 'skip-waiting') self.skipWaiting();
  // a page that navigated while this worker was activating missed `claim()` in activate
  if (event.data?.type === 'claim') event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (BYPASS.includes(url.pathname)) return;
  if (request.mode === 'navigate') {
    event.respondWith(navigate(request, url));
    return;
  }
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const cached = await cache.match(request);
    if (cached) return cached;
    const response = await fetch(request);
    if (response.ok) event.waitUntil(cache.put(request, response.clone()));
    return response;
  })());
});

/** App routes: this version's shell. Anything else: the network, the shell when offline. */
async function navigate(request, url) {
  const cache = await caches.open(CACHE);
  const shell = await cache.match(SHELL);
  if (shell && APP_ROUTES.includes(url.pathname)) return shell;
  try {
    return await fetch(request);
  } catch (_) {
    return shell || new Response('Meshboard is offline and this page was never loaded here.', { status: 503 });
  }
}
