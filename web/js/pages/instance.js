// One instance: its fields and actions, the timeline of its transitions,
// where it is placed and why (or why not), its grade and its hooks' log.
// Its events reload what they change.
import { get } from '../api.js';
import { h, append, replace, fmtTime, fmtGrade, fmtCores, fmtMemory } from '../dom.js';
import { stateBadge, runsHook } from '../states.js';
import { heading, debounce, resources } from './common.js';
import { instanceActions } from './instances.js';

export default {
  name: 'instance',
  title: 'Instance',
  async mount(root, ctx, params) {
    const id = Number(params[0]);
    const summary = h('dl', { class: 'row mb-0' });
    const actions = h('div', { class: 'btn-group mb-3', role: 'group', 'aria-label': 'Actions' });
    const timeline = h('ol', { class: 'list-group list-group-numbered', 'aria-label': 'Transitions' });
    const placement = h('div');
    const log = h('pre', { class: 'log-view', tabindex: '0', 'aria-label': 'Log of the hooks' });
    const title = h('span', {}, `Instance ${id}`);
    append(root, 
      h('nav', { 'aria-label': 'breadcrumb' }, h('ol', { class: 'breadcrumb' },
        h('li', { class: 'breadcrumb-item' }, h('a', { href: '#/instances' }, 'Instances')),
        h('li', { class: 'breadcrumb-item active', 'aria-current': 'page' }, String(id)))),
      heading(title), actions,
      h('div', { class: 'row g-4' },
        h('section', { class: 'col-12 col-lg-6', 'aria-labelledby': 'i-sum' },
          h('h2', { class: 'h5', id: 'i-sum' }, 'Summary'), h('div', { 'aria-live': 'polite' }, summary),
          h('h2', { class: 'h5 mt-4', id: 'i-place' }, 'Placement'), placement),
        h('section', { class: 'col-12 col-lg-6', 'aria-labelledby': 'i-tl' },
          h('h2', { class: 'h5', id: 'i-tl' }, 'Transitions'), timeline)),
      h('section', { class: 'mt-4', 'aria-labelledby': 'i-log' },
        h('div', { class: 'd-flex align-items-center gap-2 mb-2' },
          h('h2', { class: 'h5 mb-0', id: 'i-log' }, 'Log'),
          h('button', { class: 'btn btn-sm btn-outline-secondary', type: 'button', onclick: () => loadLog() }, 'Reload')),
        log));

    const dt = (k, v) => [h('dt', { class: 'col-sm-4' }, k), h('dd', { class: 'col-sm-8', dataset: { field: k.toLowerCase() } }, v)];

    let state = null;
    function showInstance(i) {
      state = i.state;
      title.textContent = `Instance ${i.id}: ${i.definition}@${i.definition_version} for ${i.owner}`;
      replace(summary,
        dt('State', [stateBadge('instance', i.state), i.state_reason ? h('div', { class: 'small text-muted' }, i.state_reason) : null]),
        dt('Grade', fmtGrade(i.grade)),
        dt('Worker', i.worker || '—'),
        dt('Slot', `${fmtTime(i.timeslot_start)} – ${fmtTime(i.timeslot_end)}`),
        dt('Resources', resources(i.resources)),
        dt('CPU used', fmtCores(i.usage)),
        dt('Memory', fmtMemory(i.usage, i.resources ? i.resources.memory_mb : '?')),
        dt('Sampled', i.usage ? fmtTime(i.usage.sampled_at) : '—'),
        dt('Attempt', String(i.attempt)),
        dt('Exit', i.exit ? JSON.stringify(i.exit) : '—'),
        dt('Created', fmtTime(i.created_at)),
        dt('Updated', fmtTime(i.updated_at)));
      replace(actions, instanceActions(ctx, i, showInstance));
    }

    async function loadInstance() { showInstance(await get(`/api/v1/instances/${id}`)); }

    async function loadTimeline() {
      const t = await get(`/api/v1/instances/${id}/transitions`);
      replace(timeline, t.items.map((x) => h('li', { class: 'list-group-item' },
        h('div', { class: 'd-flex flex-wrap gap-2 align-items-center' },
          x.from ? stateBadge('instance', x.from) : h('span', { class: 'text-muted' }, 'new'), '→', stateBadge('instance', x.to),
          h('time', { class: 'small text-muted ms-auto', datetime: x.at }, fmtTime(x.at))),
        h('div', { class: 'small' }, x.reason, x.actor ? ` (by ${x.actor})` : ''))));
    }

    async function loadPlacement() {
      const p = await get(`/api/v1/instances/${id}/placement`);
      const items = [h('p', { dataset: { placement: '' } }, p.summary)];
      if (p.due_at) items.push(h('p', { class: 'small text-muted' }, `due at ${fmtTime(p.due_at)}`));
      if (p.workers && p.workers.length) {
        items.push(h('div', { class: 'table-responsive' }, h('table', { class: 'table table-sm' },
          h('thead', {}, h('tr', {}, ['Worker', 'State', 'Health', 'Fits', 'Why'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, p.workers.map((w) => h('tr', {},
            h('td', {}, w.worker), h('td', {}, stateBadge('worker', w.state)), h('td', {}, stateBadge('health', w.health)),
            h('td', {}, w.fits ? 'yes' : 'no'), h('td', {}, w.reason)))))));
      }
      replace(placement, items);
    }

    async function loadLog() {
      let after = null;
      const parts = [];
      let hook = null;
      do {
        const page = await get(`/api/v1/instances/${id}/log?limit=500${after ? `&after=${encodeURIComponent(after)}` : ''}`);
        for (const c of page.items) {
          const head = `${c.attempt}/${c.hook}`;
          if (head !== hook) { parts.push(`\n── ${c.hook} (attempt ${c.attempt}) ──\n`); hook = head; }
          parts.push(c.text);
        }
        after = page.next;
      } while (after);
      log.textContent = parts.length ? parts.join('').replace(/^\n/, '') : 'No output yet.';
    }

    const reload = debounce(() => {
      loadInstance(); loadTimeline(); loadPlacement(); loadLog();
    }, 200);
    await Promise.all([loadInstance(), loadTimeline(), loadPlacement(), loadLog()]);
    // While a hook runs its output grows with no event (log chunks write none): read it again.
    const logTimer = setInterval(() => { if (runsHook(state)) loadLog(); }, 2000);
    // Usage comes with heartbeats, which write no event: read the instance again.
    const usageTimer = setInterval(() => { if (runsHook(state)) loadInstance(); }, 5000);
    return {
      onEvent(ev) {
        if (ev.kind === 'instance' && Number(ev.id) === id) {
          if (ev.data && ev.data.instance) showInstance(ev.data.instance);
          reload();
        } else if (ev.kind === 'worker') {
          loadPlacement();
        }
      },
      destroy() { reload.cancel(); clearInterval(logTimer); clearInterval(usageTimer); },
    };
  },
};
