// One runbook: a form for its parameters, a dry run or a real run (asked to
// confirm when the runbook says so), the run's output live from its
// runbook.output events, and its past runs.
import { get, post } from '../api.js';
import { h, append, replace, fmtTime, toast } from '../dom.js';
import { field, formAlert, showError, clearErrors, busy } from '../forms.js';
import { stateBadge } from '../states.js';
import { heading, debounce, readOnlyNote } from './common.js';
import { runsTable } from './runbooks.js';

function paramField(p, lists) {
  const name = `params.${p.name}`;
  const label = `${p.name}${p.required ? ' (required)' : ''}`;
  const help = [p.help, p.type !== 'string' ? `a ${p.type}` : null, p.default !== undefined && p.default !== null ? `default ${JSON.stringify(p.default)}` : null]
    .filter(Boolean).join('; ');
  if (p.type === 'bool') return field({ name, label, type: 'checkbox', value: p.default === true, help });
  if (p.type === 'enum') {
    return field({ name, label, type: 'select', value: p.default ?? '', help,
      options: [...(p.required ? [] : [['', '(default)']]), ...(p.choices || []).map((c) => [c, c])] });
  }
  const listId = lists[p.type] ? `list-${p.type}` : null;
  return field({
    name, label, type: p.type === 'int' ? 'number' : 'text', help,
    attrs: { placeholder: p.default !== undefined && p.default !== null ? String(p.default) : '', list: listId },
  });
}

export default {
  name: 'runbook',
  title: 'Runbook',
  async mount(root, ctx, params, query) {
    const name = params[0];
    const rb = await get(`/api/v1/runbooks/${encodeURIComponent(name)}`);
    const runPanel = h('section', { class: 'mt-4', 'aria-labelledby': 'run-title' });
    const past = h('div');

    // Names to pick from for worker, instance, definition and template parameters.
    const lists = {};
    const types = new Set(rb.params.map((p) => p.type));
    const datalists = [];
    const fill = async (type, path, key) => {
      if (!types.has(type)) return;
      const r = await get(path).catch(() => ({ items: [] }));
      lists[type] = true;
      datalists.push(h('datalist', { id: `list-${type}` }, r.items.map((x) => h('option', { value: String(x[key]) }))));
    };
    await Promise.all([fill('worker', '/api/v1/workers?limit=500', 'name'), fill('definition', '/api/v1/definitions?limit=500', 'name'),
      fill('template', '/api/v1/templates', 'name'), fill('instance', '/api/v1/instances?limit=500', 'id')]);

    let form = null;
    if (ctx.can(rb.role)) {
      form = h('form', { class: 'card-body', novalidate: true, 'aria-labelledby': 'rb-form-title' },
        h('h2', { class: 'h5 card-title', id: 'rb-form-title' }, 'Run it'),
        rb.params.length ? rb.params.map((p) => paramField(p, lists)) : h('p', { class: 'text-muted' }, 'No parameters.'),
        field({ name: 'dry_run', label: 'Dry run: say what it would do, change nothing', type: 'checkbox', value: true }),
        formAlert(),
        h('button', { class: 'btn btn-primary', type: 'submit' }, 'Start'), datalists);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(form);
        const body = { params: {}, dry_run: form.elements.dry_run.checked };
        for (const p of rb.params) {
          const el = form.elements[`params.${p.name}`];
          if (p.type === 'bool') { body.params[p.name] = el.checked; continue; }
          const v = el.value.trim();
          if (v === '') continue;
          body.params[p.name] = p.type === 'int' && /^-?\d+$/.test(v) ? Number(v) : v;
        }
        if (rb.confirm && !body.dry_run) {
          if (!window.confirm(`${rb.name} changes the site: ${rb.description}\n\nRun it for real?`)) return;
          body.confirm = true;
        }
        await busy(form, async () => {
          try {
            const run = await post(`/api/v1/runbooks/${encodeURIComponent(name)}/runs`, body);
            showRun(run, true);
          } catch (err) { showError(form, err); }
        });
      });
    }

    // Output as it streams: runbook.output events for the run shown, held
    // from the page's start so that none is lost while the POST answers.
    const seen = [];
    let shown = null;
    let stepEls = [];
    function showRun(run, isLive) {
      shown = run;
      stepEls = run.steps.map((s) => {
        const out = h('pre', { class: 'run-output', tabindex: '0', 'aria-label': `Output of step ${s.index + 1}`, dataset: { step: s.index } }, isLive ? '' : s.output);
        const badge = h('span', {}, stateBadge('run', s.status));
        return { s, out, badge, el: h('li', { class: 'list-group-item' },
          h('div', { class: 'd-flex gap-2 align-items-center mb-1' }, h('strong', {}, `${s.index + 1}. ${s.name}`),
            h('span', { class: 'small text-muted' }, s.action || (s.exec ? s.exec.join(' ') : '')), badge), out) };
      });
      const status = h('span', { dataset: { runStatus: run.status } }, stateBadge('run', run.status));
      replace(runPanel,
        h('h2', { class: 'h5', id: 'run-title' }, `Run #${run.id}${run.dry_run ? ' (dry run)' : ''} `, status),
        h('p', { class: 'small text-muted' }, `by ${run.actor}, ${fmtTime(run.created_at)}`, run.error ? ` · ${run.error}` : ''),
        h('ol', { class: 'list-group', role: 'log', 'aria-live': 'polite', 'aria-label': 'Steps and their output' }, stepEls.map((x) => x.el)));
      shown.statusEl = status;
      if (isLive) for (const ev of seen) apply(ev);
    }
    function apply(ev) {
      if (!shown || ev.kind !== 'run' || Number(ev.id) !== shown.id) return;
      if (shown.seq && ev.seq < shown.seq) return;
      if (ev.type === 'runbook.output') {
        const x = stepEls[ev.data.step];
        if (x) { x.out.textContent += ev.data.text; x.out.scrollTop = x.out.scrollHeight; }
      } else if (ev.type === 'runbook.run' && ev.data.status !== 'running') {
        // Ended: the stored run is the whole truth (statuses, exit codes, output).
        get(`/api/v1/runs/${shown.id}`).then((r) => showRun(r, false));
      }
    }

    append(root, 
      h('nav', { 'aria-label': 'breadcrumb' }, h('ol', { class: 'breadcrumb' },
        h('li', { class: 'breadcrumb-item' }, h('a', { href: '#/runbooks' }, 'Runbooks')),
        h('li', { class: 'breadcrumb-item active', 'aria-current': 'page' }, name))),
      heading(`Runbook ${name}`),
      h('p', {}, rb.description || ''),
      h('p', { class: 'small text-muted' }, `Needs ${rb.role}${rb.confirm ? '; asks for confirmation before a real run' : ''}. Steps: `,
        rb.steps.map((s) => s.name).join(', ')),
      readOnlyNote(ctx, rb.role),
      form ? h('div', { class: 'card' }, form) : null,
      runPanel,
      h('h2', { class: 'h5 mt-4', id: 'rb-past' }, 'Past runs'), h('section', { 'aria-labelledby': 'rb-past' }, past));

    const loadPast = async () => replace(past, runsTable((await get(`/api/v1/runs?runbook=${encodeURIComponent(name)}&limit=20`)).items,
      async (r) => showRun(await get(`/api/v1/runs/${r.id}`), false)));
    const reload = debounce(loadPast, 300);
    await loadPast();
    if (query.get('run')) showRun(await get(`/api/v1/runs/${Number(query.get('run'))}`), false);
    return {
      onEvent(ev) {
        if (ev.kind === 'run') {
          seen.push(ev);
          if (seen.length > 5000) seen.shift();
          apply(ev);
          if (ev.type === 'runbook.run') reload();
        }
      },
      destroy() { reload.cancel(); },
    };
  },
};
