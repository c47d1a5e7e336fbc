// Workers: state, health, isolation, capacity and what is allocated, labels,
// the last heartbeat; and cordon, uncordon, drain, stop and terminate. The
// list is loaded, then followed (live.js): worker events bring their worker;
// what moves workers without one (placements, the scaler's provisions and
// removals) loads the list again.
import { post, ApiError } from '../api.js';
import { h, append, replace, fmtTime, flash, toast } from '../dom.js';
import { stateBadge, workerActionAllowed } from '../states.js';
import { LiveList } from '../live.js';
import { heading, actionButton, getAllAt, labels, emptyRow, readOnlyNote, stackTable, debounce } from './common.js';

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
      // Its event follows, with the same worker; the answer shows at once.
      show(w.name, r);
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
      h('td', {}, stateBadge('health', w.health), w.agent_refused ? h('div', { class: 'small text-danger', dataset: { refused: '' } }, `refused: ${w.agent_refused}`) : null),
      h('td', { class: 'small', dataset: { isolation: w.isolation || 'none' } }, w.isolation || 'none'),
      h('td', {}, cell(w, 'cpu')), h('td', {}, cell(w, 'memory_mb')), h('td', {}, cell(w, 'slots')),
      h('td', { class: 'small' }, labels(w.labels)),
      h('td', { class: 'small' }, fmtTime(w.last_heartbeat)),
      h('td', {}, String(w.instance_count ?? 0)),
      h('td', { class: 'table-actions' }, h('div', { class: 'btn-group btn-group-sm flex-wrap', role: 'group', 'aria-label': `Actions on worker ${w.name}` }, actions(w))));

    const live = new LiveList({
      keyOf: (w) => w.name,
      itemOf: (ev) => (ev.kind === 'worker' && ev.data && ev.data.worker && ev.type !== 'worker.reconciled' ? ev.data.worker : null),
    });
    const shown = (w) => showTerminated.checked || w.state !== 'terminated';

    function drawAll() {
      const ws = live.values().filter(shown).sort((a, b) => a.id - b.id);
      replace(tbody, ws.length ? ws.map(row) : emptyRow(12, 'No workers.'));
    }

    // One worker's row as the list now holds it (w: an action's answer).
    function show(name, w) {
      if (w) live.items.set(name, { item: w, seq: live.items.has(name) ? live.items.get(name).seq : live.seq });
      const cur = live.get(name);
      const old = tbody.querySelector(`tr[data-worker="${CSS.escape(name)}"]`);
      if (!cur || !old) { drawAll(); return; }
      if (!shown(cur)) { old.remove(); return; }
      const fresh = row(cur);
      old.replaceWith(fresh);
      flash(fresh);
    }

    async function load() {
      live.begin();
      let r;
      try {
        r = await getAllAt('/api/v1/workers');
      } catch (e) {
        live.fail();
        throw e;
      }
      if (live.land(r.items, r.seq)) drawAll();
    }
    const reload = debounce(() => load().catch((e) => toast(`Workers: ${e.message}`, 'danger')), 150);
    showTerminated.addEventListener('change', drawAll);
    await load();
    return {
      onEvent(ev) {
        const k = live.event(ev);
        if (k !== null) show(k);
        // Allocations move with placements, and the scaler makes and removes
        // workers with scaling.action events, which carry no worker.
        if (ev.type === 'instance.state' || ev.type === 'scaling.action') reload();
      },
      destroy() { reload.cancel(); },
    };
  },
};
