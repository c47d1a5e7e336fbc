// Templates: the kinds of worker, how many of each the scaler keeps, and scale.
import { get, post } from '../api.js';
import { h, append, replace, flash, toast } from '../dom.js';
import { field, formAlert, showError, busy } from '../forms.js';
import { heading, resources, labels, readOnlyNote, debounce } from './common.js';

export default {
  name: 'templates',
  title: 'Templates',
  async mount(root, ctx) {
    const list = h('div', { class: 'row g-3' });
    append(root, heading('Templates'), readOnlyNote(ctx, 'operator'), list);

    function card(t) {
      const byState = Object.entries(t.workers && t.workers.by_state || {}).map(([s, n]) => `${n} ${s}`).join(', ') || 'none';
      let form = null;
      if (ctx.can('operator')) {
        form = h('form', { class: 'row g-2 align-items-end', novalidate: true, 'aria-label': `Scale ${t.name}` },
          field({ name: 'count', label: `Workers (${t.min} to ${t.max})`, type: 'number', value: t.desired, attrs: { min: t.min, max: t.max }, wrap: 'col-6' }),
          field({ name: 'deadline', label: 'Drain deadline', help: 'optional, for workers retired', wrap: 'col-6' }),
          formAlert(),
          h('div', { class: 'col-12' }, h('button', { class: 'btn btn-primary btn-sm', type: 'submit' }, 'Scale')));
        form.addEventListener('submit', async (e) => {
          e.preventDefault();
          const body = { count: Number(form.elements.count.value) };
          if (form.elements.count.value === '') body.count = null;
          if (form.elements.deadline.value.trim()) body.deadline = form.elements.deadline.value.trim();
          await busy(form, async () => {
            try {
              const r = await post(`/api/v1/templates/${encodeURIComponent(t.name)}/scale`, body);
              toast(`Template ${t.name}: desired ${r.desired}`, 'success');
              const fresh = card(r);
              section.replaceWith(fresh);
              flash(fresh);
              const again = fresh.querySelector('[name="count"]');
              if (again) again.focus();
            } catch (err) { showError(form, err); }
          });
        });
      }
      const section = h('section', { class: 'col-12 col-lg-6 col-xxl-4', dataset: { template: t.name }, 'aria-labelledby': `t-${t.name}` },
        h('div', { class: 'card h-100' }, h('div', { class: 'card-body' },
          h('h2', { class: 'h5 card-title', id: `t-${t.name}` }, t.name, h('small', { class: 'text-muted ms-2' }, `${t.provisioner.type} · from ${t.source}`)),
          h('p', { class: 'card-text' }, t.description || ''),
          h('dl', { class: 'row small mb-2' },
            h('dt', { class: 'col-5' }, 'Capacity'), h('dd', { class: 'col-7' }, resources(t.capacity)),
            h('dt', { class: 'col-5' }, 'Labels'), h('dd', { class: 'col-7' }, labels(t.labels)),
            h('dt', { class: 'col-5' }, 'Desired'), h('dd', { class: 'col-7', dataset: { desired: t.desired } }, `${t.desired} (min ${t.min}, max ${t.max})`),
            h('dt', { class: 'col-5' }, 'Workers'), h('dd', { class: 'col-7' }, `${t.workers ? t.workers.live : 0} live: ${byState}`),
            h('dt', { class: 'col-5' }, 'Autoscale'), h('dd', { class: 'col-7' }, t.autoscale ? `on (cooldown ${t.cooldown}, idle ${t.idle_timeout})` : 'off')),
          form)));
      return section;
    }

    async function load() {
      const ts = (await get('/api/v1/templates')).items;
      replace(list, ts.length ? ts.map(card) : h('p', { class: 'text-muted' }, 'No templates.'));
    }
    const reload = debounce(async () => {
      const ts = (await get('/api/v1/templates')).items;
      for (const t of ts) {
        const old = list.querySelector(`[data-template="${CSS.escape(t.name)}"]`);
        // Leave a card alone while its form is in use.
        if (old && old.contains(document.activeElement)) continue;
        const fresh = card(t);
        if (old) { old.replaceWith(fresh); flash(fresh); } else list.append(fresh);
      }
    }, 300);
    await load();
    return {
      onEvent(ev) {
        if (ev.kind === 'template' || ev.kind === 'worker') reload();
      },
      destroy() { reload.cancel(); },
    };
  },
};
