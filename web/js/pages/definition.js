// One definition: its versions, any one of them in full, and its next version.
import { get } from '../api.js';
import { h, append, replace, fmtTime } from '../dom.js';
import { heading, resources, labels } from './common.js';
import { definitionEditor, bodyOf } from './defeditor.js';

export default {
  name: 'definition',
  title: 'Definition',
  async mount(root, ctx, params, query) {
    const name = params[0];
    const versions = h('div', { class: 'list-group', role: 'list', 'aria-label': 'Versions' });
    const detail = h('div', { 'aria-live': 'polite' });
    const editorSlot = h('div');
    append(root, 
      h('nav', { 'aria-label': 'breadcrumb' }, h('ol', { class: 'breadcrumb' },
        h('li', { class: 'breadcrumb-item' }, h('a', { href: '#/definitions' }, 'Definitions')),
        h('li', { class: 'breadcrumb-item active', 'aria-current': 'page' }, name))),
      heading(`Definition ${name}`),
      h('div', { class: 'row g-4' },
        h('section', { class: 'col-12 col-md-3', 'aria-labelledby': 'd-v' }, h('h2', { class: 'h5', id: 'd-v' }, 'Versions'), versions),
        h('section', { class: 'col-12 col-md-9' }, detail)),
      editorSlot);

    let latest;
    async function load() {
      latest = await get(`/api/v1/definitions/${encodeURIComponent(name)}`);
      const want = Number(query.get('v')) || latest.version;
      replace(versions, [...latest.versions].reverse().map((v) => h('a', {
        class: `list-group-item list-group-item-action${v === want ? ' active' : ''}`, role: 'listitem',
        href: `#/definitions/${encodeURIComponent(name)}?v=${v}`, 'aria-current': v === want ? 'true' : null,
      }, `version ${v}${v === latest.version ? ' (latest)' : ''}`)));
      const d = want === latest.version ? latest : await get(`/api/v1/definitions/${encodeURIComponent(name)}/versions/${want}`);
      replace(detail,
        h('h2', { class: 'h5' }, `Version ${d.version}`, h('small', { class: 'text-muted ms-2' }, fmtTime(d.created_at))),
        h('p', {}, d.description || ''),
        h('p', {}, `Resources: ${resources(d.resources)} · labels: ${labels(d.labels)} · warm pool: ${d.warm_pool ? d.warm_pool.depth : 0} · on a lost worker: ${d.on_worker_loss} · longest slot: ${d.max_duration || 'no limit'}`),
        h('pre', { class: 'log-view', tabindex: '0', 'aria-label': `Version ${d.version} as JSON` }, JSON.stringify(bodyOf(d), null, 2)));
      if (ctx.can('admin')) replace(editorSlot, definitionEditor(ctx, latest, () => ctx.navigate(`#/definitions/${encodeURIComponent(name)}`)));
    }
    await load();
    return {
      onEvent(ev) {
        if (ev.type === 'definition.created' && ev.id === name) load();
      },
    };
  },
};
