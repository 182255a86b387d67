// The lilqueue dashboard's live parts. Every page reads and works without them.
//
// - A job page (#job[data-follow]) long-polls its job's version and puts the fresh fragment
//   in place: one held request per open tab, answered as soon as the job changes.
// - The overview and the job list ([data-refresh]) long-poll the dashboard's change mark
//   ([data-changes]) and fetch their own page again when it moved: at most once per
//   data-refresh seconds, only while the tab is visible, not while someone types in a form or
//   selects text, and not once paused: one held request per tab, never one per row.
// - A button with data-confirm asks first; a flash message's data-clean-url replaces the
//   address, so that a reload does not repeat what the message says.
'use strict';

(() => {
  // Written in by the server (lilqueue/web/staticfiles.py), each from its one source in Python.
  const FACTS = /*facts*/{}/*end*/;
  const WAIT = FACTS.wait; // seconds the server may hold a long-poll (its max_wait)
  const MAX_PAUSE = 30000; // ms between tries after errors, at most
  const PAUSED_KEY = 'lilqueue-admin-paused';

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const visible = () => document.visibilityState === 'visible';

  function untilVisible() {
    if (visible()) return Promise.resolve();
    return new Promise((resolve) => {
      const shown = () => {
        if (!visible()) return;
        document.removeEventListener('visibilitychange', shown);
        resolve();
      };
      document.addEventListener('visibilitychange', shown);
    });
  }

  function note(region, text) {
    let line = region.parentElement.querySelector('.live-note');
    if (!line) {
      line = document.createElement('p');
      line.className = 'live-note';
      line.setAttribute('role', 'status');
      region.before(line);
    }
    line.textContent = text;
  }

  function retryAfter(response, otherwise) {
    const seconds = Number(response?.headers.get('Retry-After'));
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : otherwise;
  }

  async function follow(region) {
    let since = Number(region.dataset.version);
    let pause = 0;
    let failures = 0;
    while (region.dataset.finished !== 'true') {
      if (pause) await sleep(pause);
      await untilVisible();
      let response = null;
      let data = null;
      try {
        response = await fetch(`${region.dataset.follow}?since=${since}&wait=${WAIT}`,
          { headers: { Accept: 'application/json' }, cache: 'no-store' });
        if (response.ok) data = await response.json();
      } catch {
        data = null; // offline, or the server went away: try again later
      }
      if (response?.status === 404) return note(region, 'This job no longer exists.');
      if (response?.status === 403) return note(region, 'You may no longer use the dashboard: reload to sign in.');
      if (!data) {
        failures += 1;
        pause = retryAfter(response, Math.min(1000 * 2 ** failures, MAX_PAUSE));
        continue;
      }
      failures = 0;
      pause = retryAfter(response, 0); // not held by the server: ask again after a while
      if (data.version > since) {
        since = data.version;
        region.innerHTML = data.html;
        region.dataset.version = String(data.version);
        region.dataset.finished = String(data.finished);
      }
    }
  }

  function busy(region) {
    const active = document.activeElement;
    if (active?.matches('input, select, textarea')) return true;
    const selection = document.getSelection();
    return Boolean(selection && !selection.isCollapsed && region.contains(selection.anchorNode));
  }

  const paused = () => localStorage.getItem(PAUSED_KEY) === 'yes';

  function pauseButton() {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'live-toggle';
    const label = () => { button.textContent = paused() ? 'Resume live updates' : 'Pause live updates'; };
    button.addEventListener('click', () => {
      localStorage.setItem(PAUSED_KEY, paused() ? 'no' : 'yes');
      label();
    });
    label();
    document.querySelector('header nav')?.append(button);
  }

  async function reload(region) {
    const response = await fetch(location.href, { headers: { Accept: 'text/html' }, cache: 'no-store' });
    if (response.status === 403) return 'forbidden';
    if (!response.ok || response.redirected) return false;
    const page = new DOMParser().parseFromString(await response.text(), 'text/html');
    const fresh = page.getElementById(region.id);
    if (fresh && !busy(region)) region.innerHTML = fresh.innerHTML;
    return true;
  }

  async function refresh(region) {
    const gap = 1000 * Number(region.dataset.refresh); // at most one reload per gap
    let mark = null;
    let pause = 0;
    for (;;) {
      if (pause) await sleep(pause);
      await untilVisible();
      pause = gap;
      if (paused() || busy(region)) continue;
      let response = null;
      let data = null;
      let done = true;
      try {
        const since = mark === null ? '' : `since=${encodeURIComponent(mark)}&`;
        response = await fetch(`${region.dataset.changes}?${since}wait=${WAIT}`,
          { headers: { Accept: 'application/json' }, cache: 'no-store' });
        if (response.ok) data = await response.json();
        // The first mark comes after the page was made: what changed in between shows only in a
        // reload, so the page is fetched once then too.
        const moved = data !== null && data.mark !== mark;
        if (moved) {
          await untilVisible(); // a change that came while the tab was hidden: fetch once shown
          done = await reload(region);
        }
      } catch {
        data = null; // offline, or the server went away: try again later
      }
      if (response?.status === 403 || done === 'forbidden') {
        return note(region, 'You may no longer use the dashboard: reload to sign in.');
      }
      if (!data || !done) {
        pause = retryAfter(response, MAX_PAUSE);
        continue;
      }
      pause = retryAfter(response, data.mark !== mark && mark !== null ? gap : 0);
      mark = data.mark;
    }
  }

  document.addEventListener('submit', (event) => {
    const question = event.submitter?.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  const flash = document.querySelector('.flash[data-clean-url]');
  if (flash) history.replaceState(null, '', flash.dataset.cleanUrl);

  const job = document.querySelector('#job[data-follow]');
  if (job) follow(job);
  const regions = document.querySelectorAll('[data-refresh]');
  if (regions.length) pauseButton();
  for (const region of regions) refresh(region);
})();
