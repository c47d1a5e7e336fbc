// Form fields with labels, help and a place for the server's error: an
// error whose `field` names an input (by its name) is shown under it, the
// input marked invalid and focused; any other error goes above the buttons.
import { h, uid } from './dom.js';

// field({name, label, type, value, help, options: [[value, text]], required, attrs})
export function field(o) {
  const id = uid(`f-${o.name.replace(/[^a-z0-9]/gi, '-')}`);
  const helpId = o.help ? `${id}-help` : null;
  const errId = `${id}-err`;
  let input;
  const common = {
    id, name: o.name, class: o.type === 'checkbox' ? 'form-check-input' : 'form-control',
    'aria-describedby': [helpId, errId].filter(Boolean).join(' '),
    required: o.required, ...(o.attrs || {}),
  };
  if (o.type === 'select') {
    input = h('select', { ...common, class: 'form-select' },
      (o.options || []).map(([v, t]) => h('option', { value: v, selected: String(v) === String(o.value ?? '') }, t)));
  } else if (o.type === 'textarea') {
    input = h('textarea', { ...common, rows: o.rows || 4 });
    input.value = o.value ?? '';
  } else if (o.type === 'checkbox') {
    input = h('input', { ...common, type: 'checkbox', checked: !!o.value });
  } else {
    input = h('input', { ...common, type: o.type || 'text', value: o.value ?? '' });
  }
  const err = h('div', { class: 'invalid-feedback', id: errId, dataset: { errorFor: o.name } });
  const help = o.help ? h('div', { class: 'form-text', id: helpId }, o.help) : null;
  if (o.type === 'checkbox') {
    return h('div', { class: `form-check ${o.wrap || 'mb-3'}` }, input,
      h('label', { class: 'form-check-label', for: id }, o.label), help, err);
  }
  return h('div', { class: o.wrap || 'mb-3' },
    h('label', { class: 'form-label', for: id }, o.label), input, help, err);
}

export function formAlert() {
  return h('div', { class: 'alert alert-danger d-none', role: 'alert', dataset: { formError: '1' } });
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('.is-invalid')) {
    el.classList.remove('is-invalid');
    el.removeAttribute('aria-invalid');
  }
  for (const el of form.querySelectorAll('[data-error-for]')) el.textContent = '';
  const a = form.querySelector('[data-form-error]');
  if (a) { a.textContent = ''; a.classList.add('d-none'); }
}

// Shows an ApiError where it belongs. Returns the element that got it.
export function showError(form, err) {
  clearErrors(form);
  const name = err.field || '';
  let input = null;
  if (name) {
    for (const el of form.querySelectorAll('[name]')) {
      if (el.name === name) { input = el; break; }
    }
    // "hooks.run[2]" belongs to "hooks.run"; "params.x.y" to "params.x".
    if (!input) {
      const base = name.replace(/\[\d+\]$/, '');
      for (const el of form.querySelectorAll('[name]')) {
        if (el.name === base || base.startsWith(`${el.name}.`)) { input = el; break; }
      }
    }
  }
  if (input) {
    input.classList.add('is-invalid');
    input.setAttribute('aria-invalid', 'true');
    const fb = form.querySelector(`[data-error-for="${CSS.escape(input.name)}"]`);
    if (fb) fb.textContent = err.message;
    input.focus();
    return input;
  }
  const a = form.querySelector('[data-form-error]');
  if (a) {
    a.textContent = name ? `${name}: ${err.message}` : err.message;
    a.classList.remove('d-none');
    return a;
  }
  return null;
}

// Disables a form's buttons while fn runs.
export async function busy(form, fn) {
  const buttons = [...form.querySelectorAll('button')];
  for (const b of buttons) b.disabled = true;
  try { return await fn(); } finally { for (const b of buttons) b.disabled = false; }
}

// datetime-local value ("2026-12-03T09:30") → RFC 3339 UTC ("2026-12-03T08:30:00Z").
export function localToRfc3339(v) {
  if (!v) return '';
  const d = new Date(v);
  if (isNaN(d)) return v;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function rfc3339ToLocal(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
