// The service worker keeps the app so that boards open offline, and takes a new version only when
// the user accepts it (public/sw.js explains the lifecycle). This page shows "A new version is
// available" while a new worker waits; accepting tells it to take over, and this tab reloads.
if ('serviceWorker' in navigator) {
  const sw = navigator.serviceWorker;
  // a page that had no controller is a first visit: its worker takes over by itself, unasked
  const hadController = !!sw.controller;
  let accepted = false;
  let banner = null;

  /** The quiet bar at the bottom; `accept` runs when its button is clicked. */
  const offer = (text, accept) => {
    banner?.remove();
    banner = document.createElement('div');
    banner.className = 'update-banner';
    banner.setAttribute('role', 'status');
    banner.dataset.testid = 'update-available';
    const label = document.createElement('span');
    label.textContent = text;
    const button = document.createElement('button');
    button.className = 'button small primary';
    button.dataset.testid = 'update-accept';
    button.textContent = 'Reload to update';
    button.addEventListener('click', accept);
    banner.append(label, button);
    document.body.append(banner);
  };

  const offerWaiting = (worker) => {
    if (!worker || !hadController) return;
    offer('A new version of Meshboard is available.', () => {
      accepted = true;
      worker.postMessage({ type: 'skip-waiting' });
    });
  };

  sw.addEventListener('controllerchange', () => {
    if (!hadController) return;
    if (accepted) {
      window.location.reload();
    } else {
      // accepted in another tab: this tab still runs the old version until it reloads
      offer('A new version of Meshboard is available.', () => window.location.reload());
    }
  });

  window.addEventListener('load', async () => {
    let registration;
    try {
      registration = await sw.register('/sw.js');
    } catch (_) {
      return;
    }
    // a first visit that moved on (to /b) while the worker was installing would otherwise stay
    // uncontrolled, and fail to reload offline, until the next load
    sw.ready.then((ready) => {
      if (!sw.controller) ready.active?.postMessage({ type: 'claim' });
    });
    offerWaiting(registration.waiting);
    registration.addEventListener('updatefound', () => {
      const worker = registration.installing;
      worker?.addEventListener('statechange', () => {
        if (worker.state === 'installed') offerWaiting(worker);
      });
    });
    // a tab left open for days still learns of new versions
    setInterval(() => registration.update().catch(() => {}), 60 * 60 * 1000);
  });
}
