// Events: the stream as it comes, newest first, with filters on type
// patterns (as the server's: "instance.*"), resource and actor.
import { get } from '../api.js';
import { h, append, fmtTime, replace } from '../dom.js';
import { typeMatches } from '../events.js';
import { field } from '../forms.js';
import { heading } from './common.js';

function link(ev) {
  if (ev.kind === 'instance') return h('a', { href: `#/instances/${ev.id}` }, `instance ${ev.id}`);
  if (ev.kind === 'definition') return h('a', { href: `#/definitions/${encodeURIComponent(ev.id)}` }, `definition ${ev.id}`);
  if (ev.kind === 'worker') return h('a', { href: '#/workers' }, `worker ${ev.data && ev.data.worker && ev.data.worker.name ? ev.data.worker.name : ev.id}`);
  if (ev.kind === 'template') return h('a', { href: '#/templates' }, `template ${ev.id}`);
  return `${ev.kind} ${ev.id}`;
}

// The server's one line for the event (the CLI and the dashboard say the same);
// an event without one (an older server) shows its type.
export function summary(ev) {
  return typeof ev.summary === 'string' ? ev.summary : ev.type;
}

export function eventRow(ev) {
  return h('li', { class: 'list-group-item small', dataset: { seq: ev.seq, type: ev.type } },
    h('div', { class: 'd-flex flex-wrap gap-2' },
      h('span', { class: 'text-muted' }, `#${ev.seq}`),
      h('time', { datetime: ev.ts, class: 'text-muted' }, fmtTime(ev.ts)),
      h('strong', {}, ev.type), link(ev),
      h('span', { class: 'text-muted' }, `by ${ev.actor}`)),
    h('div', { dataset: { summary: '' } }, summary(ev)));
}

export default {
  name: 'events',
  title: 'Events',
  async mount(root, ctx, params, query) {
    const form = h('form', { class: 'row g-2 align-items-end mb-3', role: 'search', 'aria-label': 'Filter events' },
      field({ name: 'types', label: 'Types', value: query.get('types') || '', help: 'comma list: instance.*, worker.state, *', wrap: 'col-12 col-md-4' }),
      field({ name: 'resource', label: 'Resource', value: query.get('resource') || '', help: 'kind and id: instance 5, worker 2', wrap: 'col-12 col-md-3' }),
      field({ name: 'actor', label: 'Actor', value: query.get('actor') || '', wrap: 'col-12 col-md-3' }),
      h('div', { class: 'col-12 col-md-2 mb-3' }, field({ name: 'paused', label: 'Pause', type: 'checkbox', wrap: 'mb-0' })));
    const list = h('ul', { class: 'list-group event-list', role: 'log', 'aria-label': 'Events, newest first', 'aria-live': 'polite' });
    const count = h('p', { class: 'small text-muted', 'aria-live': 'polite' });
    append(root, heading('Events'), form, count, list);

    let shown = 0;
    let held = [];
    const matches = (ev) => {
      const types = form.elements.types.value.split(',').map((s) => s.trim()).filter(Boolean);
      if (types.length && !types.some((p) => typeMatches(ev.type, p))) return false;
      const r = form.elements.resource.value.trim();
      if (r) {
        const [kind, id] = r.split(/\s+/);
        if (kind && ev.kind !== kind) return false;
        if (id && String(ev.id) !== id) return false;
      }
      const a = form.elements.actor.value.trim();
      if (a && ev.actor !== a) return false;
      return true;
    };
    const add = (ev) => {
      list.prepend(eventRow(ev));
      shown += 1;
      while (list.children.length > 500) list.lastChild.remove();
    };
    let recent = [];
    const redraw = () => {
      replace(list);
      shown = 0;
      for (const ev of recent) if (matches(ev)) add(ev);
      count.textContent = `${shown} events shown; following the stream.`;
    };
    form.addEventListener('input', (e) => {
      if (e.target.name === 'paused') {
        if (!e.target.checked) { for (const ev of held) if (matches(ev)) add(ev); held = []; }
        return;
      }
      redraw();
    });
    form.addEventListener('submit', (e) => e.preventDefault());

    const last = ctx.stream.lastSeq;
    const page = await get(`/api/v1/events?since=${Math.max(0, last - 200)}&limit=200`);
    recent = page.items;
    redraw();
    return {
      onEvent(ev) {
        // The page read may already hold it (the stream can be behind the page).
        if (ev.seq <= page.last_seq) return;
        recent.push(ev);
        if (recent.length > 1000) recent.shift();
        if (!matches(ev)) return;
        if (form.elements.paused.checked) { held.push(ev); return; }
        add(ev);
        count.textContent = `${shown} events shown; following the stream.`;
      },
    };
  },
};
