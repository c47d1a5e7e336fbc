// Instances: the list with its filters and pages, the create form, and the
// actions of each row. Rows change in place as instance events arrive: the
// page is loaded at its seq, then followed (live.js).
import { get, post, qs } from '../api.js';
import { h, append, replace, fmtTime, fmtGrade, fmtCores, fmtMemory, flash, toast } from '../dom.js';
import { field, formAlert, showError, clearErrors, busy, localToRfc3339, rfc3339ToLocal } from '../forms.js';
import { states, stateBadge, actionAllowed } from '../states.js';
import { heading, actionButton, emptyRow, getAll, readOnlyNote, stackTable } from './common.js';
import { LiveList } from '../live.js';

const FILTERS = ['state', 'definition', 'owner', 'worker'];

// The buttons of the actions the state machine allows from the instance's state.
export function instanceActions(ctx, inst, onDone) {
  if (!ctx.can('operator')) return [];
  const act = (name, variant, confirmText) => actionButton(name[0].toUpperCase() + name.slice(1), async () => {
    if (confirmText && !window.confirm(confirmText)) return;
    const r = await post(`/api/v1/instances/${inst.id}/${name}`);
    toast(`Instance ${inst.id}: ${name} → ${r.state}`, 'success');
    if (onDone) onDone(r);
  }, {
    variant, action: name, disabled: !actionAllowed(name, inst.state),
    ariaLabel: `${name} instance ${inst.id}`,
  });
  return [
    act('stop', 'btn-outline-primary'),
    act('retry', 'btn-outline-secondary'),
    act('terminate', 'btn-outline-danger', `Terminate instance ${inst.id} now? Its results are not collected.`),
  ];
}

export default {
  name: 'instances',
  title: 'Instances',
  async mount(root, ctx, params, query) {
    const filters = {};
    for (const k of FILTERS) if (query.get(k)) filters[k] = query.get(k);
    const after = query.get('after') || '';

    // ---- filters ----
    const filterForm = h('form', { class: 'row g-2 align-items-end mb-3', role: 'search', 'aria-label': 'Filter instances' },
      field({
        name: 'state', label: 'State', type: 'select', value: filters.state || '', wrap: 'col-6 col-md-3 col-xl-2',
        options: [['', 'any'], ...states('instance').map((s) => [s.name, s.name])],
      }),
      field({ name: 'definition', label: 'Definition', value: filters.definition, wrap: 'col-6 col-md-3 col-xl-2' }),
      field({ name: 'owner', label: 'Owner', value: filters.owner, wrap: 'col-6 col-md-3 col-xl-2' }),
      field({ name: 'worker', label: 'Worker', value: filters.worker, wrap: 'col-6 col-md-3 col-xl-2' }),
      h('div', { class: 'col-12 col-xl-4 mb-3 d-flex gap-2' },
        h('button', { class: 'btn btn-secondary', type: 'submit' }, 'Filter'),
        h('a', { class: 'btn btn-link', href: '#/instances' }, 'Clear')),
      formAlert());
    filterForm.addEventListener('submit', (e) => {
      e.preventDefault();
      const q = {};
      for (const k of FILTERS) q[k] = filterForm.elements[k].value.trim();
      ctx.navigate(`#/instances${qs(q)}`);
    });

    // ---- create ----
    let createCard = null;
    if (ctx.can('operator')) {
      const defs = await getAll('/api/v1/definitions').catch(() => []);
      const now = new Date();
      const form = h('form', { class: 'card-body', novalidate: true, 'aria-labelledby': 'create-title' },
        h('h2', { class: 'h5 card-title', id: 'create-title' }, 'New instance'),
        h('div', { class: 'row g-2' },
          field({
            name: 'definition', label: 'Definition', type: 'select', wrap: 'col-12 col-md-6 col-xl-3 mb-2',
            options: defs.map((d) => [d.name, `${d.name} (v${d.version})`]),
          }),
          field({ name: 'owner', label: 'Owner', wrap: 'col-12 col-md-6 col-xl-3 mb-2', help: 'who the instance is for' }),
          field({ name: 'timeslot_start', label: 'Slot starts', type: 'datetime-local', value: rfc3339ToLocal(now), wrap: 'col-6 col-xl-2 mb-2' }),
          field({ name: 'timeslot_end', label: 'Slot ends', type: 'datetime-local', value: rfc3339ToLocal(new Date(now.getTime() + 3600e3)), wrap: 'col-6 col-xl-2 mb-2' }),
          field({ name: 'count', label: 'Count', type: 'number', help: 'optional: 1 to 1000', attrs: { min: 1, max: 1000 }, wrap: 'col-6 col-xl-2 mb-2' })),
        formAlert(),
        h('button', { class: 'btn btn-primary', type: 'submit' }, 'Create'));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(form);
        const body = {
          definition: form.elements.definition.value,
          owner: form.elements.owner.value,
          timeslot_start: localToRfc3339(form.elements.timeslot_start.value),
          timeslot_end: localToRfc3339(form.elements.timeslot_end.value),
        };
        if (form.elements.count.value !== '') body.count = Number(form.elements.count.value);
        await busy(form, async () => {
          try {
            const r = await post('/api/v1/instances', body);
            const made = r.items || [r];
            toast(`Created instance${made.length > 1 ? 's' : ''} ${made.map((i) => i.id).join(', ')}`, 'success');
          } catch (err) {
            showError(form, err);
          }
        });
      });
      createCard = h('div', { class: 'card mb-3' }, form);
    }

    // ---- the list ----
    const tbody = h('tbody');
    const pager = h('nav', { 'aria-label': 'Pages of instances', class: 'd-flex gap-2' });
    const status = h('p', { class: 'small text-muted', 'aria-live': 'polite' });
    append(root, heading('Instances'), readOnlyNote(ctx, 'operator'), createCard, filterForm, status,
      h('div', { class: 'table-responsive' },
        stackTable(h('table', { class: 'table table-hover', 'aria-label': 'Instances' },
          h('thead', {}, h('tr', {}, ['Id', 'Definition', 'Owner', 'State', 'Worker', 'Usage', 'Slot', 'Grade', 'Actions']
            .map((t) => h('th', { scope: 'col' }, t)))),
          tbody))),
      pager);

    const matches = (i) => (!filters.state || filters.state.split(',').includes(i.state)) &&
      (!filters.definition || i.definition === filters.definition) &&
      (!filters.owner || i.owner === filters.owner) &&
      (!filters.worker || i.worker === filters.worker || String(i.worker_id) === filters.worker);

    const row = (i) => h('tr', { dataset: { instance: i.id, state: i.state } },
      h('td', {}, h('a', { href: `#/instances/${i.id}` }, String(i.id))),
      h('td', {}, `${i.definition}@${i.definition_version}`),
      h('td', {}, i.owner),
      h('td', {}, stateBadge('instance', i.state), i.state_reason ? h('div', { class: 'small text-muted' }, i.state_reason) : null),
      h('td', {}, i.worker || '—'),
      h('td', { class: 'small', dataset: { usage: '' } }, i.usage ? [fmtCores(i.usage), h('br'),
        fmtMemory(i.usage, i.resources ? i.resources.memory_mb : '?')] : '—'),
      h('td', { class: 'small' }, fmtTime(i.timeslot_start), h('br'), fmtTime(i.timeslot_end)),
      h('td', { dataset: { grade: '' } }, fmtGrade(i.grade)),
      h('td', { class: 'table-actions' }, h('div', { class: 'btn-group', role: 'group', 'aria-label': `Actions on instance ${i.id}` },
        instanceActions(ctx, i, answered))));

    let page = null;
    const live = new LiveList({
      keyOf: (i) => i.id,
      itemOf: (ev) => (ev.kind === 'instance' && ev.data && ev.data.instance ? ev.data.instance : null),
      // A new one shows on the last page, where it belongs in id order.
      admit: (i, ev) => ev.type === 'instance.created' && !page.next && matches(i),
    });

    // An action's answer shows at once; its event follows with the same instance.
    function answered(i) {
      if (live.items.has(i.id)) live.items.set(i.id, { item: i, seq: live.items.get(i.id).seq });
      update(i.id);
    }

    // The row of instance id as the list holds it.
    function update(id) {
      const cur = live.get(id);
      const old = tbody.querySelector(`tr[data-instance="${id}"]`);
      if (!cur) return;
      const fresh = row(cur);
      if (old) {
        old.replaceWith(fresh);
      } else {
        const empty = tbody.querySelector('td[colspan]');
        if (empty) empty.parentElement.remove();
        tbody.append(fresh);
      }
      flash(fresh);
    }

    live.begin();
    try {
      page = await get(`/api/v1/instances${qs({ ...filters, after, limit: 50 })}`);
    } catch (e) {
      live.fail();
      throw e;
    }
    live.land(page.items, page.seq);
    const items = live.values();
    replace(tbody, items.length ? items.map(row) : emptyRow(9, 'No instances match.'));
    status.textContent = `${page.items.length} instances on this page${page.next ? '' : ' (the last)'}; updated live.`;
    if (after) pager.append(h('a', { class: 'btn btn-outline-secondary btn-sm', href: `#/instances${qs(filters)}` }, 'First page'));
    if (page.next) pager.append(h('a', { class: 'btn btn-outline-secondary btn-sm', href: `#/instances${qs({ ...filters, after: page.next })}` }, 'Next page'));

    return {
      onEvent(ev) {
        const k = live.event(ev);
        if (k !== null) update(k);
      },
    };
  },
};
