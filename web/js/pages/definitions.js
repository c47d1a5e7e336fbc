// Definitions: the latest version of each, and (for an admin) a new one.
import { h, append, replace, fmtTime, flash } from '../dom.js';
import { heading, getAll, resources, labels, emptyRow, readOnlyNote, stackTable } from './common.js';
import { definitionEditor } from './defeditor.js';

export default {
  name: 'definitions',
  title: 'Definitions',
  async mount(root, ctx) {
    const tbody = h('tbody');
    const row = (d) => h('tr', { dataset: { definition: d.name } },
      h('td', {}, h('a', { href: `#/definitions/${encodeURIComponent(d.name)}` }, d.name)),
      h('td', {}, `v${d.version}`), h('td', {}, d.description || ''),
      h('td', {}, resources(d.resources)), h('td', {}, labels(d.labels)),
      h('td', {}, d.warm_pool && d.warm_pool.depth ? String(d.warm_pool.depth) : '—'),
      h('td', { class: 'small' }, fmtTime(d.created_at)));
    const editor = ctx.can('admin') ? definitionEditor(ctx, null, (d) => ctx.navigate(`#/definitions/${encodeURIComponent(d.name)}`)) : null;
    append(root, heading('Definitions'), readOnlyNote(ctx, 'admin'),
      h('div', { class: 'table-responsive' }, stackTable(h('table', { class: 'table table-hover', 'aria-label': 'Definitions' },
        h('thead', {}, h('tr', {}, ['Name', 'Version', 'Description', 'Resources', 'Labels', 'Warm pool', 'Created']
          .map((t) => h('th', { scope: 'col' }, t)))), tbody))),
      editor ? h('details', { class: 'mt-3' }, h('summary', { class: 'mb-2' }, 'New definition'), editor) : null);
    const load = async () => {
      const defs = await getAll('/api/v1/definitions');
      replace(tbody, defs.length ? defs.map(row) : emptyRow(7, 'No definitions yet.'));
    };
    await load();
    return {
      onEvent(ev) {
        if (ev.type !== 'definition.created') return;
        const d = ev.data.definition;
        const fresh = row(d);
        const old = tbody.querySelector(`tr[data-definition="${CSS.escape(d.name)}"]`);
        if (old) old.replaceWith(fresh); else load();
        flash(fresh);
      },
    };
  },
};
