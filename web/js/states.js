// The state machine as the server gives it (GET /api/v1/states, from
// src/common/state.c): names, descriptions and colours of every state, which
// instance and worker actions each state allows, the hook each instance
// state runs, and the roles. The app keeps no list of its own.
import { h } from './dom.js';

let machine = null;

export async function loadStates() {
  const res = await fetch('/api/v1/states', { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`GET /api/v1/states: HTTP ${res.status}`);
  machine = await res.json();
  return machine;
}

export function states(kind) {
  return machine && machine[kind] ? machine[kind] : [];
}

export function stateInfo(kind, name) {
  return states(kind).find((s) => s.name === name) || null;
}

// Black or white text, whichever reads better on the state's colour.
function textOn(hex) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || '');
  if (!m) return '#fff';
  const [r, g, b] = m.slice(1).map((x) => parseInt(x, 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return lum > 0.4 ? '#000' : '#fff';
}

// A badge in the state's colour; its description is its tooltip.
export function stateBadge(kind, name) {
  const info = stateInfo(kind, name);
  const el = h('span', {
    class: 'badge state-badge',
    title: info ? info.description : '',
    dataset: { state: name || '' },
  }, name || '—');
  if (info) {
    el.style.backgroundColor = info.color;
    el.style.color = textOn(info.color);
    if (info.bold) el.classList.add('fw-bold');
  } else {
    el.classList.add('text-bg-secondary');
  }
  return el;
}

// May the action (of 'instance_actions' or 'worker_actions') start from state?
export function actionAllowed(action, state, kind = 'instance_actions') {
  const a = (machine && machine[kind] || []).find((x) => x.name === action);
  return !!a && a.from.includes(state);
}

export function workerActionAllowed(action, state) {
  return actionAllowed(action, state, 'worker_actions');
}

// The hooks of a definition, in the order an instance runs them.
export function hooks() {
  return (machine && machine.hooks) || [];
}

// Does a hook run while an instance is in this state?
export function runsHook(state) {
  const info = stateInfo('instance', state);
  return !!info && !!info.hook;
}

// A role's rank: agent, viewer, operator, admin as the server orders them (-1: unknown).
export function roleRank(name) {
  return (machine && machine.roles || []).findIndex((r) => r.name === name);
}

export function isFinal(kind, name) {
  const info = stateInfo(kind, name);
  return !!info && !info.active;
}
