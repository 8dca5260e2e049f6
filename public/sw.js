// Meshboard's service worker: keeps the app shell so that boards open without a server.
//
// - Navigations (index.html for / and /b) go to the network first, so a new version takes over
//   on the next load; the cached copy is the fallback when the server is unreachable.
// - Everything else the shell needs (Trunk's hashed JS, wasm and CSS, the icons, the manifest)
//   is precached at install by reading index.html, and served from the cache first: a hashed
//   name never changes its content. After each successful navigation, cached assets that the
//   new index.html no longer references are deleted, so old versions do not pile up.
// - Only the app's own HTML becomes the shell: a navigation to an app route (/, /b, /index.html)
//   whose answer is text/html. Opening /icon.svg (or any other file) in a tab must not make an
//   image the page every board opens into.
// - /ws, /healthz and /metrics are never touched.
const CACHE = 'meshboard-shell-v1';
const SHELL = '/index.html';
const APP_ROUTES = ['/', '/b', '/index.html'];
const STATIC = ['/icon.svg', '/icon-192.png', '/icon-512.png', '/manifest.webmanifest'];

/** Whether `response`, the answer to a navigation to `url`, is the app's HTML. */
function isShell(url, response) {
  const type = response.headers.get('content-type') || '';
  return response.ok && APP_ROUTES.includes(url.pathname) && /^text\/html\b/i.test(type);
}

function assetsOf(html) {
  const urls = new Set(STATIC);
  for (const m of html.matchAll(/(?:href|src)="(\/[^"]+)"/g)) urls.add(m[1]);
  for (const m of html.matchAll(/(?:from |import\()['"](\/[^'"]+)['"]/g)) urls.add(m[1]);
  for (const m of html.matchAll(/['"](\/[^'"]+\.wasm)['"]/g)) urls.add(m[1]);
  return [...urls];
}

async function refreshShell(response) {
  const cache = await caches.open(CACHE);
  const html = await response.clone().text();
  await cache.put(SHELL, response.clone());
  const wanted = new Set(assetsOf(html).map((u) => new URL(u, self.location.origin).href));
  await Promise.all(wanted.size ? [...wanted].map(async (url) => {
    if (!(await cache.match(url))) {
      try { await cache.add(url); } catch (_) { /* fetched later on demand */ }
    }
  }) : []);
  for (const req of await cache.keys()) {
    const href = req.url;
    if (!href.endsWith(SHELL) && !wanted.has(href)) await cache.delete(req);
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const response = await fetch(SHELL, { cache: 'no-cache' });
    if (isShell(new URL(SHELL, self.location.origin), response)) await refreshShell(response);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (['/ws', '/healthz', '/metrics'].includes(url.pathname)) return;
  if (request.mode === 'navigate') {
    event.respondWith((async () => {
      try {
        const response = await fetch(request);
        if (isShell(url, response)) event.waitUntil(refreshShell(response.clone()));
        return response;
      } catch (_) {
        const cached = await caches.match(SHELL);
        return cached || new Response('Meshboard is offline and this page was never loaded here.', { status: 503 });
      }
    })());
    return;
  }
  event.respondWith((async () => {
    const cached = await caches.match(request);
    if (cached) return cached;
    const response = await fetch(request);
    if (response.ok) {
      const cache = await caches.open(CACHE);
      event.waitUntil(cache.put(request, response.clone()));
    }
    return response;
  })());
});
