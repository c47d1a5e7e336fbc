// The dashboard: instances by state, workers and their capacity, the alerts
// that fire, and the latest events; each part reloads when an event says
// it changed. The counts and the capacity are the server's (GET /api/v1/site).
import { get } from '../api.js';
import { h, append, replace, fmtTime } from '../dom.js';
import { states, stateBadge } from '../states.js';
import { heading, debounce, getAll, emptyRow, stackTable } from './common.js';
import { eventRow } from './events.js';
import { latest } from '../live.js';

export default {
  name: 'dashboard',
  title: 'Dashboard',
  async mount(root, ctx) {
    const counts = h('div', { class: 'row g-2', role: 'list', 'aria-label': 'Instances by state' });
    const workerBody = h('tbody');
    const capacity = h('p', { class: 'small', 'aria-live': 'polite', dataset: { capacity: '' } });
    const alertList = h('ul', { class: 'list-group', 'aria-live': 'polite' });
    const backup = h('p', { class: 'small mt-2', 'aria-live': 'polite', dataset: { backup: '' } });
    const recent = h('ul', { class: 'list-group list-group-flush event-list', role: 'log', 'aria-label': 'Recent events' });

    append(root, 
      heading('Dashboard'),
      h('section', { class: 'mb-4', 'aria-labelledby': 'dash-inst' },
        h('h2', { class: 'h5', id: 'dash-inst' }, 'Instances by state'), counts),
      h('div', { class: 'row g-4' },
        h('section', { class: 'col-12 col-xl-7', 'aria-labelledby': 'dash-workers' },
          h('h2', { class: 'h5', id: 'dash-workers' }, 'Workers and capacity'), capacity,
          h('div', { class: 'table-responsive' },
            stackTable(h('table', { class: 'table table-sm' },
              h('thead', {}, h('tr', {},
                h('th', { scope: 'col' }, 'Worker'), h('th', { scope: 'col' }, 'State'),
                h('th', { scope: 'col' }, 'Health'), h('th', { scope: 'col' }, 'CPU'),
                h('th', { scope: 'col' }, 'Memory (MB)'), h('th', { scope: 'col' }, 'Slots'))),
              workerBody)))),
        h('section', { class: 'col-12 col-xl-5', 'aria-labelledby': 'dash-alerts' },
          h('h2', { class: 'h5', id: 'dash-alerts' }, 'Alerts firing'), alertList, backup,
          h('h2', { class: 'h5 mt-4', id: 'dash-events' }, 'Recent events'),
          recent)));

    // Reloads that overlap: only the one started last is shown.
    const getSite = latest(() => get('/api/v1/site'));
    const getWorkers = latest(() => getAll('/api/v1/workers'));

    async function loadSite() {
      const r = await getSite();
      if (!r.current) return;
      const site = r.value;
      replace(counts, states('instance').map((s) => h('div', { class: 'col-6 col-sm-4 col-md-3 col-xl-2', role: 'listitem' },
        h('a', { class: 'card stat-card text-decoration-none h-100', href: `#/instances?state=${s.name}`, dataset: { count: s.name } },
          h('div', { class: 'card-body py-2' },
            h('div', { class: 'display-6' }, String(site.instances.state[s.name] || 0)),
            stateBadge('instance', s.name))))));
      // What placements can use: ready, online workers; of those not terminated
      // (the workers whose health is counted).
      const t = site.capacity.taking;
      const known = Object.values(site.workers.health).reduce((n, c) => n + c, 0);
      const use = (k) => `${t.allocated[k]} / ${t.capacity[k]}`;
      replace(capacity, `${t.workers} of ${known} workers take instances; in use: `
        + `cpu ${use('cpu')}, memory ${use('memory_mb')} MB, slots ${use('slots')}.`);
      showBackup(site.backup);
    }

    // The last good backup and its age; a failure after it, or none on a schedule, in red.
    function showBackup(b) {
      if (!b) { replace(backup); return; }
      const ok = b.last_success, bad = b.last_failure;
      const failed = (bad && (!ok || bad.at > ok.at)) || (!ok && b.scheduled);
      const age = (at) => {
        const s = Math.max(0, Math.round((Date.now() - Date.parse(at)) / 1000));
        return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min`
          : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} days`;
      };
      backup.className = `small mt-2${failed ? ' text-danger' : ''}`;
      replace(backup, ok ? `Last backup ${age(ok.at)} ago (${fmtTime(ok.at)}).` : 'No backup yet.',
        bad && failed ? ` The last one failed: ${bad.reason}` : '');
    }

    async function loadWorkers() {
      const r = await getWorkers();
      if (!r.current) return;
      const ws = r.value.filter((w) => w.state !== 'terminated');
      const cell = (w, k) => `${w.allocated[k]} / ${w.capacity[k]}`;
      replace(workerBody, ws.length ? ws.map((w) => h('tr', { dataset: { worker: w.name } },
        h('td', {}, h('a', { href: '#/workers' }, w.name)),
        h('td', {}, stateBadge('worker', w.state)), h('td', {}, stateBadge('health', w.health)),
        h('td', {}, cell(w, 'cpu')), h('td', {}, cell(w, 'memory_mb')), h('td', {}, cell(w, 'slots'))))
        : emptyRow(6, 'No workers.'));
    }

    async function loadAlerts() {
      const a = await get('/api/v1/alerts');
      const firing = a.items.filter((x) => x.firing);
      replace(alertList, firing.length ? firing.map((x) => h('li', { class: 'list-group-item list-group-item-warning' },
        h('strong', {}, x.rule), ': ', x.message || x.description || '',
        h('div', { class: 'small text-muted' }, `since ${fmtTime(x.since)}`,
          x.runbook ? ` · runbook ${x.runbook}` : '')))
        : h('li', { class: 'list-group-item text-muted' }, `None of ${a.items.length} rules fire.`));
    }

    let recentSeq = 0;
    async function loadRecent() {
      const last = ctx.stream.lastSeq;
      const page = await get(`/api/v1/events?since=${Math.max(0, last - 15)}&limit=15`);
      recentSeq = page.last_seq;
      replace(recent, page.items.reverse().map(eventRow));
    }

    const reSite = debounce(loadSite, 300);
    const reWorkers = debounce(loadWorkers, 300);
    const reAlerts = debounce(loadAlerts, 300);
    await Promise.all([loadSite(), loadWorkers(), loadAlerts(), loadRecent()]);
    return {
      onEvent(ev) {
        if (ev.type.startsWith('instance.') || ev.type.startsWith('worker.') || ev.type === 'scaling.action') { reSite(); reWorkers(); }
        if (ev.type.startsWith('alert.')) reAlerts();
        if (ev.type.startsWith('backup.')) reSite();
        if (ev.seq <= recentSeq) return; // the page read holds it
        recent.prepend(eventRow(ev));
        while (recent.children.length > 15) recent.lastChild.remove();
      },
      destroy() { reSite.cancel(); reWorkers.cancel(); reAlerts.cancel(); },
    };
  },
};
