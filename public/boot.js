// Starts the app. Trunk's default loader is an inline <script>, which a Content-Security-Policy
// without 'unsafe-inline' refuses; Trunk.toml's `pattern_script` replaces it with a <meta> that
// names the hashed JS and wasm, and this file (a Trunk asset: hashed, with SRI) loads them.
// Both are fetched with the integrity of the preload links Trunk writes into index.html, so a
// changed byte in either stops the app instead of running it.
const app = document.querySelector('meta[name="meshboard-app"]');
const integrity = (href) => document.querySelector(`link[href="${href}"][integrity]`)?.integrity;
const wasm = app.dataset.wasm;
// The module preload (with its integrity) already holds this module; import() takes it from there.
const { default: init } = await import(app.dataset.js);
await init({ module_or_path: fetch(wasm, { integrity: integrity(wasm) ?? '' }) });
