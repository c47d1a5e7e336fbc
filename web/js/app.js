// The app: sign-in, the router (one page per #/path), the event stream all
// pages follow, and the roles that decide what a page offers.
import { api, get, setUnauthenticatedHandler, ApiError } from './api.js';
import { h, replace, toast } from './dom.js';
import { EventStream } from './events.js';
import { field, formAlert, showError, busy } from './forms.js';
import { loadStates, roleRank } from './states.js';
import dashboard from './pages/dashboard.js';
import instances from './pages/instances.js';
import instance from './pages/instance.js';
import definitions from './pages/definitions.js';
import definition from './pages/definition.js';
import workers from './pages/workers.js';
import templates from './pages/templates.js';
import runbooks from './pages/runbooks.js';
import runbook from './pages/runbook.js';
import events from './pages/events.js';

// Pattern → page; a page is {title, mount(root, ctx, params, query) → {onEvent?, destroy?}}.
const routes = [
  [/^\/$/, dashboard],
  [/^\/instances$/, instances],
  [/^\/instances\/(\d+)$/, instance],
  [/^\/definitions$/, definitions],
  [/^\/definitions\/([^/]+)$/, definition],
  [/^\/workers$/, workers],
  [/^\/templates$/, templates],
  [/^\/runbooks$/, runbooks],
  [/^\/runbooks\/([^/]+)$/, runbook],
  [/^\/events$/, events],
];

const main = document.getElementById('main');
const stream = new EventStream();
let session = null;
let current = null;
// Events that come while a page mounts (loads its lists) wait here, and are
// handed to it once it is up: it keeps those newer than what it loaded.
let held = null;
let routeGen = 0;

const ctx = {
  stream,
  get role() { return session ? session.role : null; },
  // May the signed-in role do what needs `role`?
  // Agents sign in nowhere: a session's role is a viewer's or above, ranked as the server does.
  can(role) { return !!session && roleRank(session.role) >= roleRank(role) && roleRank(role) >= 0; },
  navigate(hash) { location.hash = hash; },
};

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, q] = raw.split('?');
  return { path: path || '/', query: new URLSearchParams(q || '') };
}

function unmount() {
  if (current && current.destroy) {
    try { current.destroy(); } catch (e) { console.error(e); }
  }
  current = null;
}

async function route() {
  if (!session) return;
  const gen = ++routeGen;
  unmount();
  held = null;
  const { path, query } = parseHash();
  for (const a of document.querySelectorAll('#nav-list .nav-link')) {
    const target = a.getAttribute('href').slice(1);
    const isCurrent = target === '/' ? path === '/' : path.startsWith(target);
    a.classList.toggle('active', isCurrent);
    if (isCurrent) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  for (const [re, page] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    const root = h('div', { class: 'page', dataset: { page: page.name } });
    replace(main, root);
    document.title = `${page.title} · Outpost`;
    const params = m.slice(1).map(decodeURIComponent);
    const mine = [];
    held = mine;
    let mounted;
    try {
      mounted = (await page.mount(root, ctx, params, query)) || {};
    } catch (e) {
      root.appendChild(h('div', { class: 'alert alert-danger', role: 'alert' },
        `This page could not load: ${e.message}`));
      mounted = {};
    }
    if (gen !== routeGen) {
      // Another page was asked for while this one loaded.
      if (mounted.destroy) mounted.destroy();
      return;
    }
    held = null;
    current = mounted;
    for (const ev of mine) deliver(ev);
    main.focus({ preventScroll: true });
    return;
  }
  replace(main, h('h1', { class: 'h3' }, 'Not found'),
    h('p', {}, 'No page here. ', h('a', { href: '#/' }, 'Back to the dashboard')));
}

function deliver(ev) {
  if (current && current.onEvent) {
    try { current.onEvent(ev); } catch (e) { console.error(e); }
  }
}
stream.on((ev) => {
  if (held) held.push(ev); else deliver(ev);
});

const conn = document.getElementById('conn');
const connText = { live: 'live', 'catching-up': 'catching up', connecting: 'connecting', offline: 'offline' };
stream.onState((s) => {
  conn.textContent = connText[s] || s;
  conn.className = `badge rounded-pill conn conn-${s === 'catching-up' ? 'connecting' : s}`;
  conn.dataset.state = s;
  conn.dataset.since = String(stream.subscribedFrom ?? '');
  conn.title = s === 'live' ? `following events; last ${stream.lastSeq}` :
    s === 'offline' ? 'the event stream is down: reconnecting, then resuming from the last event seen' : '';
});
// A stream that keeps failing may mean the session ended: ask.
stream.onDrop = async (n) => {
  if (n < 2) return;
  try { await get('/api/v1/session'); } catch (e) { /* a 401 signs out (below) */ }
};

setUnauthenticatedHandler(() => {
  if (session) {
    signedOut('Your session has ended: sign in again.');
  }
});

function signedOut(message) {
  session = null;
  stream.stop();
  routeGen += 1;	// a page still loading is not shown
  unmount();
  held = null;
  document.getElementById('nav-list').hidden = true;
  document.getElementById('nav-session').hidden = true;
  showSignIn(message);
}

function showSignIn(message) {
  document.title = 'Sign in · Outpost';
  const form = h('form', { class: 'card-body', novalidate: true, 'aria-labelledby': 'signin-title' },
    h('h1', { class: 'h4 card-title', id: 'signin-title' }, 'Sign in to Outpost'),
    message ? h('div', { class: 'alert alert-info', role: 'status' }, message) : null,
    field({
      name: 'token', label: 'Token', type: 'password', required: true,
      help: 'A viewer, operator or admin token (opt_…). The server exchanges it for a session; the token is not kept in the browser.',
      attrs: { autocomplete: 'off', spellcheck: 'false' },
    }),
    formAlert(),
    h('button', { class: 'btn btn-primary', type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = form.elements.token.value.trim();
    await busy(form, async () => {
      try {
        const s = await api('POST', '/api/v1/session', { token });
        form.elements.token.value = '';
        await signedIn(s);
      } catch (err) {
        showError(form, err instanceof ApiError ? err : new ApiError(0, 'internal', err.message, ''));
      }
    });
  });
  replace(main, h('div', { class: 'row justify-content-center' },
    h('div', { class: 'col-12 col-sm-10 col-md-7 col-lg-5' }, h('div', { class: 'card mt-4' }, form))));
  form.elements.token.focus();
}

async function signedIn(s) {
  session = s;
  document.getElementById('whoami').textContent = `${s.name} (${s.role})`;
  document.getElementById('nav-list').hidden = false;
  document.getElementById('nav-session').hidden = false;
  document.body.dataset.role = s.role;
  // Where the stream starts: the newest event now. Pages load what is, then
  // follow what changes from here.
  const last = await get('/api/v1/events?since=9223372036854775807&limit=1');
  stream.start(last.last_seq);
  await route();
}

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await api('DELETE', '/api/v1/session');
  } catch (e) {
    if (e.status !== 401) { toast(`Sign-out failed: ${e.message}`, 'danger'); return; }
  }
  signedOut('You have signed out.');
});

const toggle = document.getElementById('nav-toggle');
toggle.addEventListener('click', () => {
  const links = document.getElementById('nav-links');
  const open = links.classList.toggle('show');
  toggle.setAttribute('aria-expanded', String(open));
});
document.getElementById('nav-links').addEventListener('click', (e) => {
  if (e.target.closest('a')) {
    document.getElementById('nav-links').classList.remove('show');
    toggle.setAttribute('aria-expanded', 'false');
  }
});

window.addEventListener('hashchange', route);

async function boot() {
  try {
    await loadStates();
  } catch (e) {
    replace(main, h('div', { class: 'alert alert-danger', role: 'alert' },
      `The server did not answer: ${e.message}`));
    return;
  }
  try {
    const s = await get('/api/v1/session');
    if (s.session) { await signedIn(s); return; }
  } catch (e) { /* not signed in */ }
  showSignIn();
}

boot();
