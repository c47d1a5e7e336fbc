// Definitions: the latest version of each, and (for an admin) a new one.
import { h, append, replace, fmtTime, flash } from '../dom.js';
import { heading, getAllAt, resources, labels, emptyRow, readOnlyNote, stackTable } from './common.js';
import { LiveList } from '../live.js';
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
    // Loaded, then followed (live.js): a definition.created event brings the new version.
    const live = new LiveList({
      keyOf: (d) => d.name,
      itemOf: (ev) => (ev.type === 'definition.created' && ev.data ? ev.data.definition : null),
    });
    const draw = () => {
      const defs = live.values().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      replace(tbody, defs.length ? defs.map(row) : emptyRow(7, 'No definitions yet.'));
    };
    live.begin();
    try {
      const r = await getAllAt('/api/v1/definitions');
      live.land(r.items, r.seq);
    } catch (e) {
      live.fail();
      throw e;
    }
    draw();
    return {
      onEvent(ev) {
        const k = live.event(ev);
        if (k === null) return;
        const fresh = row(live.get(k));
        const old = tbody.querySelector(`tr[data-definition="${CSS.escape(k)}"]`);
        if (old) old.replaceWith(fresh); else draw();
        flash(old ? fresh : tbody.querySelector(`tr[data-definition="${CSS.escape(k)}"]`));
      },
    };
  },
};
