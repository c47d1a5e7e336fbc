// The editor of a definition's next version: a form of its fields, or its
// JSON as is. Either way the server checks it, and its error is shown at
// the field it names.
import { post } from '../api.js';
import { h, toast } from '../dom.js';
import { field, formAlert, showError, clearErrors, busy } from '../forms.js';
import { hooks } from '../states.js';

function kvLines(obj) {
  return Object.entries(obj || {}).map(([k, v]) => `${k}=${v}`).join('\n');
}

function parseKv(text, name) {
  const out = {};
  for (const [n, line] of text.split('\n').entries()) {
    const l = line.trim();
    if (!l) continue;
    const eq = l.indexOf('=');
    if (eq <= 0) throw Object.assign(new Error(`line ${n + 1} is not name=value`), { field: name });
    out[l.slice(0, eq).trim()] = l.slice(eq + 1).trim();
  }
  return out;
}

// What a stored version becomes as the body of the next one.
export function bodyOf(d) {
  const b = { ...d };
  delete b.version; delete b.created_at; delete b.versions;
  return b;
}

export function definitionEditor(ctx, base, onCreated) {
  const b = base ? bodyOf(base) : { name: '', hooks: { run: [] } };
  const form = h('form', { class: 'card-body', novalidate: true, 'aria-labelledby': 'def-edit-title' });
  const modeForm = h('input', { class: 'btn-check', type: 'radio', name: 'mode', id: 'mode-form', value: 'form', checked: true });
  const modeJson = h('input', { class: 'btn-check', type: 'radio', name: 'mode', id: 'mode-json', value: 'json' });
  const fields = h('div', {},
    h('div', { class: 'row g-2' },
      field({ name: 'name', label: 'Name', value: b.name, wrap: 'col-12 col-md-4 mb-2', attrs: base ? { readonly: true } : {} }),
      field({ name: 'description', label: 'Description', value: b.description, wrap: 'col-12 col-md-8 mb-2' }),
      field({ name: 'resources.cpu', label: 'CPU', type: 'number', value: b.resources ? b.resources.cpu : 1, wrap: 'col-6 col-md-3 mb-2' }),
      field({ name: 'resources.memory_mb', label: 'Memory (MB)', type: 'number', value: b.resources ? b.resources.memory_mb : 512, wrap: 'col-6 col-md-3 mb-2' }),
      field({ name: 'max_duration', label: 'Longest slot', value: b.max_duration || '', help: 'a duration such as 4h; empty: no limit', wrap: 'col-6 col-md-3 mb-2' }),
      field({ name: 'warm_pool.depth', label: 'Warm pool depth', type: 'number', value: b.warm_pool ? b.warm_pool.depth : 0, wrap: 'col-6 col-md-3 mb-2' }),
      field({
        name: 'on_worker_loss', label: 'On a lost worker', type: 'select', value: b.on_worker_loss || 'reschedule',
        options: [['reschedule', 'reschedule'], ['fail', 'fail']], wrap: 'col-12 col-md-4 mb-2',
      }),
      field({ name: 'labels', label: 'Labels the worker must have', type: 'textarea', rows: 2, value: kvLines(b.labels), help: 'one name=value a line', wrap: 'col-12 col-md-4 mb-2' }),
      field({ name: 'timeouts', label: 'Timeouts', type: 'textarea', rows: 2, value: kvLines(b.timeouts), help: 'one hook=duration a line, such as run=2h', wrap: 'col-12 col-md-4 mb-2' })),
    h('fieldset', { class: 'mt-2' }, h('legend', { class: 'h6' }, 'Hooks (each a JSON array: a program and its arguments)'),
      hooks().map((k) => field({
        name: `hooks.${k}`, label: k, value: b.hooks && b.hooks[k] ? JSON.stringify(b.hooks[k]) : '',
        help: k === 'run' ? 'required, such as ["sh", "-c", "sleep 600"]' : 'optional', attrs: { class: 'form-control json-editor', spellcheck: 'false' },
      }))));
  const json = field({ name: 'json', label: 'The definition as JSON', type: 'textarea', rows: 16, attrs: { class: 'form-control json-editor', spellcheck: 'false' } });
  json.hidden = true;

  function fromForm() {
    const e = form.elements;
    const body = { name: e.name.value.trim(), description: e.description.value };
    body.resources = { cpu: Number(e['resources.cpu'].value), memory_mb: Number(e['resources.memory_mb'].value) };
    body.labels = parseKv(e.labels.value, 'labels');
    body.timeouts = parseKv(e.timeouts.value, 'timeouts');
    body.hooks = {};
    for (const k of hooks()) {
      const v = e[`hooks.${k}`].value.trim();
      if (!v) continue;
      try { body.hooks[k] = JSON.parse(v); } catch (err) {
        throw Object.assign(new Error(`hooks.${k} is not a JSON array: ${err.message}`), { field: `hooks.${k}` });
      }
    }
    if (e.max_duration.value.trim()) body.max_duration = e.max_duration.value.trim();
    body.warm_pool = { depth: Number(e['warm_pool.depth'].value) };
    body.on_worker_loss = e.on_worker_loss.value;
    return body;
  }

  const isJson = () => modeJson.checked;
  const toggle = () => {
    clearErrors(form);
    if (isJson()) {
      try { form.elements.json.value = JSON.stringify(fromForm(), null, 2); } catch (err) {
        form.elements.json.value = JSON.stringify(b, null, 2);
      }
    }
    fields.hidden = isJson();
    json.hidden = !isJson();
  };
  modeForm.addEventListener('change', toggle);
  modeJson.addEventListener('change', toggle);

  form.append(
    h('h2', { class: 'h5 card-title', id: 'def-edit-title' }, base ? `New version of ${base.name}` : 'New definition'),
    h('div', { class: 'btn-group mb-3', role: 'group', 'aria-label': 'Edit as' },
      modeForm, h('label', { class: 'btn btn-outline-secondary btn-sm', for: 'mode-form' }, 'Form'),
      modeJson, h('label', { class: 'btn btn-outline-secondary btn-sm', for: 'mode-json' }, 'JSON')),
    fields, json, formAlert(),
    h('button', { class: 'btn btn-primary', type: 'submit' }, base ? 'Create the new version' : 'Create'));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    let body;
    try {
      body = isJson() ? form.elements.json.value : fromForm();
    } catch (err) {
      showError(form, { field: err.field || '', message: err.message });
      return;
    }
    await busy(form, async () => {
      try {
        const d = await post('/api/v1/definitions', body);
        toast(`Definition ${d.name} version ${d.version} created`, 'success');
        if (onCreated) onCreated(d);
      } catch (err) {
        if (isJson()) {
          showError(form, { field: 'json', message: err.field ? `${err.field}: ${err.message}` : err.message });
        } else {
          showError(form, err);
        }
      }
    });
  });
  return h('div', { class: 'card mb-3' }, form);
}
