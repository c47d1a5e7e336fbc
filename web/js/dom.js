// Small DOM helpers. Text from the server only ever goes in as text nodes or
// attribute values, never as HTML.

// h('button', {class: 'btn', onclick: fn, disabled: true}, 'text', child, [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'checked') {
      el.checked = !!v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  appendAll(el, children);
  return el;
}

export function append(el, ...children) {
  appendAll(el, children);
  return el;
}

function appendAll(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) appendAll(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  appendAll(el, children);
  return el;
}

// "2026-12-03T06:24:38.240Z" → local "2026-12-03 07:24:38"
export function fmtTime(s) {
  if (!s) return '—';
  const d = new Date(s);
  if (isNaN(d)) return s;
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtGrade(g) {
  if (!g) return '—';
  if (typeof g.score === 'number' && typeof g.max === 'number') return `${g.score} / ${g.max}`;
  return JSON.stringify(g);
}

// An instance's usage in words, as outpost and outpost-top say it: CPU as cores
// used ("0.98 cores"), memory against its limit ("100 MB / 2048 MB (peak 120 MB)").
const mb = (bytes) => Math.round(bytes / 1048576);
export function fmtCores(u) {
  return u ? `${(u.cpu_millicores / 1000).toFixed(2)} cores` : '—';
}
export function fmtMemory(u, limitMb) {
  return u ? `${mb(u.memory_bytes)} MB / ${limitMb} MB (peak ${mb(u.memory_peak_bytes)} MB)` : '—';
}

let nextId = 0;
export function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

// Briefly marks an element that a live event changed.
export function flash(el) {
  el.classList.remove('flash');
  void el.offsetWidth;
  el.classList.add('flash');
}

// A message in the corner, read out by screen readers (the area is aria-live).
export function toast(text, kind = 'info') {
  const area = document.getElementById('toasts');
  const el = h('div', { class: `alert alert-${kind} py-2 mb-0 shadow-sm` }, text);
  area.appendChild(el);
  setTimeout(() => el.remove(), kind === 'danger' ? 9000 : 4000);
}
