// SPDX-License-Identifier: MIT
// controls.js - the policies and arch form shared by the Comparison and
// Folio inspector pages.

import { $$, h, clear } from './common.js';

/** Fill box with one checkbox per policy of GET /api/policies. */
export function renderPolicyChoices(box, policyList, chosenNames) {
  clear(box);
  const chosen = new Set(chosenNames.length ? chosenNames : policyList.map((p) => p.name));
  for (const p of policyList) {
    const id = `pol-${p.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    box.appendChild(h('label', { for: id, title: [p.summary, p.kernel].filter(Boolean).join(' \u2014 ') },
      h('input', { type: 'checkbox', id, name: 'policy', value: p.name, checked: chosen.has(p.name) }),
      p.name,
      p.reference ? h('span', { class: 'muted small' }, ' (reference)') : null));
  }
}

/** Set the form's checkboxes and radios from the state. */
export function syncControls(form, state) {
  for (const cb of $$('input[name="policy"]', form)) {
    cb.checked = state.policies.length ? state.policies.includes(cb.value) : true;
  }
  for (const r of $$('input[name="arch"]', form)) r.checked = Number(r.value) === state.arch;
}

/** The state the form describes. */
export function readControls(form, state) {
  const policies = $$('input[name="policy"]', form).filter((c) => c.checked).map((c) => c.value);
  const archEl = $$('input[name="arch"]', form).find((r) => r.checked);
  return { ...state, policies, arch: archEl ? Number(archEl.value) : 64 };
}

/** GET /api/policies answers {policies: [...]}; tolerate a bare list. */
export function policyListOf(body) {
  return Array.isArray(body) ? body : (body && body.policies) || [];
}
