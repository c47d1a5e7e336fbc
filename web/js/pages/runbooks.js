// Runbooks: the procedures loaded, the files that were not, and past runs.
import { get } from '../api.js';
import { h, append, replace, fmtTime } from '../dom.js';
import { stateBadge } from '../states.js';
import { heading, debounce, emptyRow } from './common.js';

export function runsTable(runs, onPick) {
  return h('div', { class: 'table-responsive' }, h('table', { class: 'table table-sm table-hover', 'aria-label': 'Runs' },
    h('thead', {}, h('tr', {}, ['Run', 'Runbook', 'Status', 'Dry run', 'By', 'Started', 'Ended'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, runs.length ? runs.map((r) => h('tr', { dataset: { run: r.id } },
      h('td', {}, onPick ? h('button', { type: 'button', class: 'btn btn-link btn-sm p-0', onclick: () => onPick(r) }, `#${r.id}`) : `#${r.id}`),
      h('td', {}, h('a', { href: `#/runbooks/${encodeURIComponent(r.runbook)}` }, r.runbook)),
      h('td', {}, stateBadge('run', r.status), r.error ? h('div', { class: 'small text-muted' }, r.error) : null),
      h('td', {}, r.dry_run ? 'yes' : 'no'), h('td', {}, r.actor),
      h('td', { class: 'small' }, fmtTime(r.created_at)), h('td', { class: 'small' }, fmtTime(r.ended_at))))
      : emptyRow(7, 'No runs yet.'))));
}

export default {
  name: 'runbooks',
  title: 'Runbooks',
  async mount(root) {
    const list = h('div', { class: 'list-group mb-4' });
    const errors = h('div');
    const runs = h('div');
    append(root, heading('Runbooks'), list, errors,
      h('h2', { class: 'h5', id: 'rb-runs' }, 'Recent runs'), h('section', { 'aria-labelledby': 'rb-runs', 'aria-live': 'polite' }, runs));
    const rb = await get('/api/v1/runbooks');
    replace(list, rb.items.map((r) => h('a', { class: 'list-group-item list-group-item-action', href: `#/runbooks/${encodeURIComponent(r.name)}`, dataset: { runbook: r.name } },
      h('div', { class: 'd-flex flex-wrap gap-2' }, h('strong', {}, r.name),
        h('span', { class: 'badge text-bg-light' }, `needs ${r.role}`),
        r.confirm ? h('span', { class: 'badge text-bg-warning' }, 'asks to confirm') : null),
      h('div', { class: 'small' }, r.description || ''))));
    if (rb.errors && rb.errors.length) {
      replace(errors, h('div', { class: 'alert alert-warning', role: 'alert' },
        h('p', { class: 'mb-1' }, 'Files that did not load:'),
        h('ul', { class: 'mb-0' }, rb.errors.map((e) => h('li', {}, `${e.file}: ${e.field ? `${e.field}: ` : ''}${e.message}`)))));
    }
    const loadRuns = async () => replace(runs, runsTable((await get('/api/v1/runs?limit=20')).items,
      (r) => { location.hash = `#/runbooks/${encodeURIComponent(r.runbook)}?run=${r.id}`; }));
    const reload = debounce(loadRuns, 300);
    await loadRuns();
    return {
      onEvent(ev) { if (ev.type === 'runbook.run') reload(); },
      destroy() { reload.cancel(); },
    };
  },
};
