// What several pages share: headings, action buttons, debounced reloads,
// reading every page of a listing.
import { get, ApiError } from '../api.js';
import { h, toast } from '../dom.js';

export function heading(text, ...extra) {
  return h('div', { class: 'd-flex flex-wrap align-items-center gap-2 mb-3' },
    h('h1', { class: 'h3 mb-0 me-auto' }, text), ...extra);
}

// A button that runs fn, says what went wrong in a toast, and is disabled meanwhile.
export function actionButton(label, fn, opts = {}) {
  const b = h('button', {
    type: 'button',
    class: `btn btn-sm ${opts.variant || 'btn-outline-secondary'}`,
    disabled: opts.disabled,
    title: opts.title,
    'aria-label': opts.ariaLabel,
    dataset: { action: opts.action || label.toLowerCase() },
  }, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await fn();
    } catch (e) {
      toast(e instanceof ApiError ? `${label}: ${e.message}` : `${label}: ${e}`, 'danger');
    } finally {
      if (b.isConnected) b.disabled = !!opts.disabled;
    }
  });
  return b;
}

export function debounce(fn, ms) {
  let t = null;
  const d = () => {
    clearTimeout(t);
    t = setTimeout(fn, ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

// Every item of a keyset-paginated listing, up to max items.
export async function getAll(path, max = 2000) {
  return (await getAllAt(path, max)).items;
}

// The same, with the sequence number the first page is consistent with:
// the events after it bring every page up to date (a LiveList's load).
export async function getAllAt(path, max = 2000) {
  const items = [];
  let after = null;
  let seq = null;
  const sep = path.includes('?') ? '&' : '?';
  do {
    const page = await get(`${path}${sep}limit=500${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    if (seq === null) seq = page.seq;
    items.push(...page.items);
    after = page.next;
  } while (after && items.length < max);
  return { items, seq };
}

export function resources(r) {
  if (!r) return '—';
  const parts = [];
  if (r.cpu !== undefined) parts.push(`${r.cpu} cpu`);
  if (r.memory_mb !== undefined) parts.push(`${r.memory_mb} MB`);
  if (r.slots !== undefined) parts.push(`${r.slots} slots`);
  return parts.join(', ');
}

export function labels(l) {
  const e = Object.entries(l || {});
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(', ') : '—';
}

export function emptyRow(cols, text) {
  return h('tr', {}, h('td', { colspan: cols, class: 'text-muted' }, text));
}

export function readOnlyNote(ctx, role) {
  return ctx.can(role) ? null :
    h('p', { class: 'text-muted small', role: 'note' },
      `You are signed in as ${ctx.role}: this page is read-only (changes need ${role}).`);
}

// On a phone's width a table-stack shows each row as a card, each cell under
// its column's name: the names are copied from the header to every cell,
// as rows come and go.
export function stackTable(table) {
  table.classList.add('table-stack');
  const names = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
  const label = () => {
    for (const tr of table.tBodies[0].rows) {
      [...tr.cells].forEach((td, i) => {
        if (!td.dataset.label && names[i] && !td.hasAttribute('colspan')) td.dataset.label = names[i];
      });
    }
  };
  new MutationObserver(label).observe(table.tBodies[0], { childList: true });
  label();
  return table;
}
