// Workers: state, health, isolation, capacity and what is allocated, labels,
// the last heartbeat; and cordon, uncordon, drain, stop and terminate.
import { post, ApiError } from '../api.js';
import { h, append, replace, fmtTime, flash, toast } from '../dom.js';
import { stateBadge, workerActionAllowed } from '../states.js';
import { heading, actionButton, getAll, labels, emptyRow, readOnlyNote, stackTable } from './common.js';

export default {
  name: 'workers',
  title: 'Workers',
  async mount(root, ctx) {
    const tbody = h('tbody');
    const showTerminated = h('input', { class: 'form-check-input', type: 'checkbox', id: 'w-term' });
    append(root, heading('Workers',
      h('div', { class: 'form-check' }, showTerminated, h('label', { class: 'form-check-label', for: 'w-term' }, 'Show terminated'))),
    readOnlyNote(ctx, 'operator'),
    h('div', { class: 'table-responsive' }, stackTable(h('table', { class: 'table table-hover', 'aria-label': 'Workers' },
      h('thead', {}, h('tr', {}, ['Name', 'Template', 'State', 'Health', 'Isolation', 'CPU', 'Memory (MB)', 'Slots', 'Labels', 'Heartbeat', 'Instances', 'Actions']
        .map((t) => h('th', { scope: 'col' }, t)))), tbody))));

    async function act(w, name, body) {
      let r;
      try {
        r = await post(`/api/v1/workers/${encodeURIComponent(w.name)}/${name}`, body);
      } catch (e) {
        // A busy worker: ask before ending what it runs.
        if (e instanceof ApiError && e.field === 'force' &&
            window.confirm(`${e.message}\n\n${name} ${w.name} with force?`)) {
          r = await post(`/api/v1/workers/${encodeURIComponent(w.name)}/${name}`, { force: true });
        } else {
          throw e;
        }
      }
      toast(`Worker ${w.name}: ${name} → ${r.state}`, 'success');
      update(r);
    }

    function actions(w) {
      if (!ctx.can('operator')) return [];
      const b = (name, variant, fn) => actionButton(name[0].toUpperCase() + name.slice(1), fn || (() => act(w, name)), {
        variant, action: name, disabled: !workerActionAllowed(name, w.state), ariaLabel: `${name} worker ${w.name}`,
      });
      return [
        b('cordon', 'btn-outline-secondary'),
        b('uncordon', 'btn-outline-secondary'),
        b('drain', 'btn-outline-warning', async () => {
          const d = window.prompt(`Drain ${w.name}: deadline (a duration such as 30m, or empty for none)`, '30m');
          if (d === null) return;
          await act(w, 'drain', d.trim() ? { deadline: d.trim() } : {});
        }),
        b('stop', 'btn-outline-danger', async () => {
          if (window.confirm(`Stop worker ${w.name}? Its agent is stopped.`)) await act(w, 'stop');
        }),
        b('terminate', 'btn-outline-danger', async () => {
          if (window.confirm(`Terminate worker ${w.name}? It is removed by its provisioner.`)) await act(w, 'terminate');
        }),
      ];
    }

    const cell = (w, k) => `${w.allocated ? w.allocated[k] : 0} / ${w.capacity ? w.capacity[k] : 0}`;
    const row = (w) => h('tr', { dataset: { worker: w.name, state: w.state } },
      h('td', {}, h('a', { href: `#/instances?worker=${encodeURIComponent(w.name)}` }, w.name)),
      h('td', {}, w.template || '—'),
      h('td', {}, stateBadge('worker', w.state), w.drain_deadline ? h('div', { class: 'small text-muted' }, `deadline ${fmtTime(w.drain_deadline)}`) : null),
      h('td', {}, stateBadge('health', w.health)),
      h('td', { class: 'small', dataset: { isolation: w.isolation || 'none' } }, w.isolation || 'none'),
      h('td', {}, cell(w, 'cpu')), h('td', {}, cell(w, 'memory_mb')), h('td', {}, cell(w, 'slots')),
      h('td', { class: 'small' }, labels(w.labels)),
      h('td', { class: 'small' }, fmtTime(w.last_heartbeat)),
      h('td', {}, String(w.instance_count ?? 0)),
      h('td', { class: 'table-actions' }, h('div', { class: 'btn-group btn-group-sm flex-wrap', role: 'group', 'aria-label': `Actions on worker ${w.name}` }, actions(w))));

    function update(w) {
      const old = tbody.querySelector(`tr[data-worker="${CSS.escape(w.name)}"]`);
      if (!old) { load(); return; }
      if (w.state === 'terminated' && !showTerminated.checked) { old.remove(); return; }
      const fresh = row(w);
      old.replaceWith(fresh);
      flash(fresh);
    }

    async function load() {
      const ws = (await getAll('/api/v1/workers')).filter((w) => showTerminated.checked || w.state !== 'terminated');
      replace(tbody, ws.length ? ws.map(row) : emptyRow(12, 'No workers.'));
    }
    showTerminated.addEventListener('change', load);
    await load();
    return {
      onEvent(ev) {
        if (ev.kind === 'worker' && ev.data && ev.data.worker && ev.type !== 'worker.reconciled') update(ev.data.worker);
        else if (ev.type === 'instance.state') {
          // Allocations move with placements: refresh the worker's row.
          const i = ev.data && ev.data.instance;
          if (i && i.worker) load();
        }
      },
    };
  },
};
