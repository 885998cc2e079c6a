// SPDX-License-Identifier: MIT
// folio.js - the Folio inspector: one folio's events, and after each every
// policy's state and answers next to the exact oracle's.

import { api, resolveDeferred } from './api.js';
import { $, h, clear, readParams, setUrl, viewUrl, renderNav, showError, hideBox, typingTarget } from './common.js';
import { fmtInt, percent, isNum, num, DASH } from './format.js';
import { renderPolicyChoices, syncControls, readControls, policyListOf } from './controls.js';

let state = readParams();
let policyList = [];
let history = null;   // GET .../history
let pos = 0;          // index into history.events
let diffs = [];       // per event: does some policy disagree with exact?
let inflight = null;

/* ---- progress ---- */

function progress(show, done, total, status, what) {
  const row = $('#load-progress-row');
  const bar = $('#load-progress');
  const text = $('#load-progress-text');
  row.hidden = !show;
  if (!show) return;
  if (isNum(total) && num(total) > 0) {
    bar.value = percent(done, total);
    text.textContent = `${what}: ${status === 'queued' ? 'queued' : 'replaying'}, ` +
      `${fmtInt(done)} of ${fmtInt(total)} events (${Math.floor(percent(done, total))}%)`;
  } else {
    bar.removeAttribute('value');
    text.textContent = `${what}…`;
  }
}

function chosenPolicies() {
  return state.policies.length ? state.policies : policyList.map((p) => p.name);
}

/* ---- the folio list ---- */

function renderFolios(doc) {
  const body = $('#folios-body');
  clear(body);
  const list = (doc && doc.folios) || [];
  $('#folios-sub').textContent = doc
    ? `${fmtInt(list.length)} of ${fmtInt(doc.total)} folios, most disputed first; ` +
      'disagreements counted against exact'
    : '';
  if (!list.length) {
    body.appendChild(h('tr', { class: 'placeholder' }, h('td', { colspan: 4 }, 'No folios in this trace.')));
    return;
  }
  for (const f of list) {
    const byPol = f.by_policy ? Object.entries(f.by_policy)
      .filter(([, n]) => isNum(n) && num(n) > 0)
      .map(([p, n]) => `${p}: ${fmtInt(n)}`).join(', ') : '';
    const url = viewUrl('folio.html', { ...state, folio: f.folio, event: null });
    const tr = h('tr', { dataset: { folio: f.folio }, 'aria-current': f.folio === state.folio ? 'true' : null },
      h('th', { scope: 'row' }, h('a', { href: url, class: 'folio-link', dataset: { folio: f.folio } }, f.folio),
        h('span', { class: 'sub muted small' }, f.type || DASH)),
      h('td', { class: 'num' }, fmtInt(f.order)),
      h('td', { class: 'num' }, fmtInt(f.events)),
      h('td', { class: 'num', title: byPol || 'no disagreement' }, fmtInt(f.disagreements)));
    body.appendChild(tr);
  }
}

function markCurrentFolio() {
  for (const tr of document.querySelectorAll('#folios-body tr[data-folio]')) {
    if (tr.dataset.folio === state.folio) tr.setAttribute('aria-current', 'true');
    else tr.removeAttribute('aria-current');
  }
}

/* ---- a policy's state ---- */

const SLOT_RE = /^slot(\d+)_(mm_id|mapcount)$/;
const MM_RE = /^mm(\d+)_(id|mapcount)$/;

/** Per-MM entries from fields: slots (two-slot family) or mmN (exact, 012). */
function mmEntries(fields) {
  const slots = new Map();
  const mms = new Map();
  for (const [k, v] of Object.entries(fields || {})) {
    let m = SLOT_RE.exec(k);
    if (m) {
      const e = slots.get(m[1]) || {};
      e[m[2] === 'mm_id' ? 'id' : 'count'] = v;
      slots.set(m[1], e);
      continue;
    }
    m = MM_RE.exec(k);
    if (m) {
      const e = mms.get(m[1]) || {};
      e[m[2]] = v;
      mms.set(m[1], e);
    }
  }
  return { slots, mms };
}

function isMmField(k) {
  return SLOT_RE.test(k) || MM_RE.test(k);
}

function mmCell(ps) {
  if (!ps || !ps.fields) return h('span', { class: 'muted' }, DASH);
  const f = ps.fields;
  const { slots, mms } = mmEntries(f);
  const out = [];
  if (slots.size) {
    for (const [i, e] of [...slots.entries()].sort((a, b) => a[0] - b[0])) {
      const free = !isNum(e.id) || num(e.id) === 0;
      out.push(h('span', { class: `slot${free ? ' empty' : ''}`, title: `slot ${i}` },
        h('span', { class: 'slot-n' }, `${i}`),
        free ? 'free' : `mm ${fmtInt(e.id)} \u00d7${fmtInt(e.count)}`));
    }
  } else if (mms.size) {
    for (const [, e] of [...mms.entries()].sort((a, b) => a[0] - b[0])) {
      if (!isNum(e.id) || num(e.id) === 0) continue;
      out.push(h('span', { class: 'slot mm' }, `mm ${fmtInt(e.id)} \u00d7${fmtInt(e.mapcount)}`));
    }
    const total = f.nr_mms;
    if (isNum(total) && num(total) > out.length) {
      out.push(h('span', { class: 'muted' }, `+${fmtInt(num(total) - out.length)} more`));
    }
    if (!out.length) out.push(h('span', { class: 'muted' }, 'none'));
  } else {
    return h('span', { class: 'muted' }, 'not tracked');
  }
  if ('maybe_shared_bit' in f) {
    out.push(num(f.maybe_shared_bit)
      ? h('span', { class: 'badge shared', title: 'the SHARED bit is set' }, 'SHARED')
      : h('span', { class: 'muted small' }, 'shared bit clear'));
  }
  if ('state' in f) {
    const names = ['0', '1', '2', 'STOPPED'];
    out.push(h('span', { class: 'small' }, `state ${names[num(f.state)] ?? fmtInt(f.state)}`));
  }
  return h('span', { class: 'slots' }, out);
}

function yesNo(v, yes, no) {
  if (v === true) return yes;
  if (v === false) return no;
  return DASH;
}

/** The kernel's recorded answer in the event text (expect=...), if any. */
function recorded(ev) {
  const m = /\bexpect=([A-Za-z0-9_.:-]+)/.exec(ev.event || '');
  return m ? m[1] : null;
}

function eventDisagrees(ev) {
  const ps = ev.policies || [];
  const ref = ps[0];
  if (!ref) return false;
  return ps.slice(1).some((p) => p.maybe_shared !== ref.maybe_shared ||
    ('cow_reuse' in ref && p.cow_reuse !== ref.cow_reuse));
}

function renderState() {
  const table = $('#state-table');
  clear(table);
  const ev = history.events[pos];
  const prev = pos > 0 ? history.events[pos - 1] : null;
  const ps = ev.policies || [];
  const ref = ps[0];
  const prevOf = (name) => (prev ? (prev.policies || []).find((p) => p.policy === name) : null);

  table.appendChild(h('thead', null, h('tr', null,
    h('th', { scope: 'col' }, 'After this event'),
    ps.map((p, i) => h('th', { scope: 'col', dataset: { policy: p.policy } }, p.policy,
      i === 0 ? h('span', { class: 'muted small' }, ' (reference)') : null)))));

  const tbody = h('tbody');
  const section = (label) => tbody.appendChild(h('tr', { class: 'section' },
    h('th', { scope: 'rowgroup', colspan: ps.length + 1 }, label)));

  section('Answers');
  const answerRow = (label, key, render) => {
    const tr = h('tr', { dataset: { row: key } }, h('th', { scope: 'row' }, label));
    ps.forEach((p, i) => {
      const differs = i > 0 && p[key] !== ref[key];
      tr.appendChild(h('td', {
        class: differs ? 'diff' : null,
        dataset: { policy: p.policy, value: String(p[key]), diff: differs ? '1' : null },
        title: differs ? `${p.policy} disagrees with ${ref.policy}` : null,
      }, render(p[key]), differs ? h('span', { class: 'sr-only' }, ' (disagrees with exact)') : null));
    });
    tbody.appendChild(tr);
  };
  answerRow('maybe shared?', 'maybe_shared', (v) => yesNo(v, 'shared', 'exclusive'));
  if (ref && 'cow_reuse' in ref) answerRow('COW: reuse?', 'cow_reuse', (v) => yesNo(v, 'reuse', 'copy'));

  section('Mappings by MM');
  const mmRow = h('tr', { dataset: { row: 'mms' } }, h('th', { scope: 'row' }, 'MM \u00d7 mapcount'));
  for (const p of ps) mmRow.appendChild(h('td', { dataset: { policy: p.policy } }, mmCell(p)));
  tbody.appendChild(mmRow);

  section('Fields');
  const names = [];
  for (const p of ps) {
    for (const k of Object.keys(p.fields || {})) if (!isMmField(k) && !names.includes(k)) names.push(k);
  }
  for (const k of names) {
    const tr = h('tr', { dataset: { row: `field:${k}` } }, h('th', { scope: 'row' }, k));
    for (const p of ps) {
      const v = p.fields ? p.fields[k] : undefined;
      const pp = prevOf(p.policy);
      const pv = pp && pp.fields ? pp.fields[k] : undefined;
      const changed = prev && isNum(v) && pv !== v;
      tr.appendChild(h('td', {
        class: changed ? 'changed' : null,
        title: changed ? `changed from ${isNum(pv) ? fmtInt(pv) : DASH}` : null,
        dataset: { policy: p.policy, value: isNum(v) ? String(v) : '' },
      }, isNum(v) ? fmtInt(v) : DASH));
    }
    tbody.appendChild(tr);
  }
  table.appendChild(tbody);
}

function renderEventNow() {
  const ev = history.events[pos];
  const box = $('#event-now');
  clear(box);
  const rec = recorded(ev);
  box.append(...[
    h('span', { class: 'muted' }, `#${fmtInt(ev.index)}  `),
    ev.event || ev.kind,
    rec ? h('span', { class: 'muted' }, `   (the kernel recorded: ${rec})`) : null,
    ev.live === false ? h('span', { class: 'muted' }, '   (folio freed)') : null,
  ].filter((x) => x !== null));
  $('#step-pos').textContent = `Event ${fmtInt(pos + 1)} of ${fmtInt(history.events.length)}` +
    (diffs[pos] ? ' \u00b7 policies disagree' : '');
  const range = $('#step-range');
  range.value = String(pos);
  range.setAttribute('aria-valuetext', `event ${pos + 1} of ${history.events.length}: ${ev.event || ev.kind}`);
  const active = document.activeElement;
  $('#step-first').disabled = pos === 0;
  $('#step-prev').disabled = pos === 0;
  $('#step-next').disabled = pos === history.events.length - 1;
  $('#step-last').disabled = pos === history.events.length - 1;
  $('#step-prev-diff').disabled = !diffs.slice(0, pos).some(Boolean);
  $('#step-next-diff').disabled = !diffs.slice(pos + 1).some(Boolean);
  // a button that just got disabled would drop the keyboard focus to <body>
  if (active && active.disabled) {
    const other = pos === 0 ? '#step-next' : '#step-prev';
    $(other).focus();
  }
}

function renderEventsList() {
  const ol = $('#events-list');
  clear(ol);
  history.events.forEach((ev, i) => {
    const url = viewUrl('folio.html', { ...state, event: ev.index });
    ol.appendChild(h('li', { class: [i === pos ? 'current' : '', diffs[i] ? 'has-diff' : ''].join(' ').trim() || null,
      dataset: { pos: i, index: ev.index }, 'aria-current': i === pos ? 'step' : null },
    h('span', { class: 'ev-idx' }, `#${fmtInt(ev.index)}`),
    h('a', { href: url, dataset: { pos: i }, title: diffs[i] ? 'policies disagree after this event' : null },
      ev.event || ev.kind)));
  });
}

function markEventsList() {
  const ol = $('#events-list');
  for (const li of ol.children) {
    const cur = Number(li.dataset.pos) === pos;
    li.classList.toggle('current', cur);
    if (cur) li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  }
  const li = ol.children[pos];
  if (li) {
    // keep the current event visible inside the list without scrolling the page
    const top = li.offsetTop - ol.offsetTop;
    if (top < ol.scrollTop) ol.scrollTop = top;
    else if (top + li.offsetHeight > ol.scrollTop + ol.clientHeight) {
      ol.scrollTop = top + li.offsetHeight - ol.clientHeight;
    }
  }
}

function go(i) {
  if (!history || !history.events.length) return;
  pos = Math.max(0, Math.min(history.events.length - 1, i));
  state.event = history.events[pos].index;
  setUrl('folio.html', state);
  renderEventNow();
  renderState();
  markEventsList();
}

function goDiff(dir) {
  for (let i = pos + dir; i >= 0 && i < diffs.length; i += dir) {
    if (diffs[i]) {
      go(i);
      return;
    }
  }
}

/* ---- loading ---- */

async function loadHistory(focus) {
  if (!state.folio) return;
  if (inflight) inflight.abort();
  const ctl = new AbortController();
  inflight = ctl;
  const errBox = $('#page-error');
  hideBox(errBox);
  $('#inspector-h').textContent = `Folio ${state.folio}`;
  $('#inspector-sub').textContent = '';
  $('#inspector').removeAttribute('data-ready');
  const pols = chosenPolicies();
  $('#json-link').href = `/api/traces/${encodeURIComponent(state.trace)}/folios/${encodeURIComponent(state.folio)}` +
    `/history?policies=${encodeURIComponent(pols.join(','))}&arch=${state.arch}`;
  progress(true, 0, 0, 'loading', `Loading the history of ${state.folio}`);
  try {
    const doc = await resolveDeferred(api.history(state.trace, state.folio, pols, state.arch, { signal: ctl.signal }),
      (d, t, s) => progress(true, d, t, s, `History of ${state.folio}`), { signal: ctl.signal });
    if (ctl.signal.aborted) return;
    progress(false);
    history = { ...doc, events: Array.isArray(doc.events) ? doc.events : [] };
    diffs = history.events.map(eventDisagrees);
    $('#inspector-sub').textContent = `order ${fmtInt(doc.order)} \u00b7 ${doc.type || DASH} \u00b7 ` +
      `${fmtInt(history.events.length)} events touch it \u00b7 ${fmtInt(diffs.filter(Boolean).length)} with disagreements` +
      `${doc.truncated ? ' \u00b7 truncated: the first events only' : ''} \u00b7 ${doc.arch ?? state.arch}-bit`;
    if (!history.events.length) {
      $('#stepper-box').hidden = true;
      return;
    }
    $('#stepper-box').hidden = false;
    $('#step-range').max = String(history.events.length - 1);
    let i = 0;
    if (state.event !== null) {
      i = history.events.findIndex((e) => num(e.index) >= state.event);
      if (i < 0) i = history.events.length - 1;
    }
    pos = i;
    renderEventsList();
    go(i);
    $('#inspector').dataset.ready = '1';
    if (focus) $('#inspector-h').focus();
  } catch (e) {
    if (e.name === 'AbortError') return;
    progress(false);
    $('#stepper-box').hidden = true;
    showError(errBox, e);
  } finally {
    if (inflight === ctl) inflight = null;
  }
}

async function loadFolios() {
  const errBox = $('#page-error');
  progress(true, 0, 0, 'loading', 'Ranking the folios');
  try {
    const doc = await resolveDeferred(api.folios(state.trace, chosenPolicies(), state.arch, 100),
      (d, t, s) => progress(true, d, t, s, 'Ranking the folios'));
    progress(false);
    renderFolios(doc);
    if (!state.folio && doc.folios && doc.folios.length) {
      state.folio = doc.folios[0].folio;
      setUrl('folio.html', state);
      markCurrentFolio();
    }
  } catch (e) {
    progress(false);
    clear($('#folios-body'));
    showError(errBox, e);
  }
}

async function reload() {
  renderNav('folio', state);
  await loadFolios();
  await loadHistory(false);
}

function setupKeys() {
  document.addEventListener('keydown', (e) => {
    if (!history || $('#stepper-box').hidden) return;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    if (typingTarget(t) || (t && t.type === 'range')) return;
    let handled = true;
    if (e.key === 'ArrowRight') {
      if (e.shiftKey) goDiff(1);
      else go(pos + 1);
    } else if (e.key === 'ArrowLeft') {
      if (e.shiftKey) goDiff(-1);
      else go(pos - 1);
    } else if (e.key === 'Home' && !e.shiftKey) {
      go(0);
    } else if (e.key === 'End' && !e.shiftKey) {
      go(history.events.length - 1);
    } else {
      handled = false;
    }
    if (handled) e.preventDefault();
  });
}

async function init() {
  renderNav('folio', state);
  const errBox = $('#page-error');
  if (!state.trace) {
    clear(errBox);
    errBox.hidden = false;
    errBox.append(h('p', null, 'No trace chosen: pick one on the ', h('a', { href: 'index.html' }, 'Traces page'), '.'));
    $('#folio-form').hidden = true;
    clear($('#folios-body'));
    return;
  }
  try {
    const [pl, tr] = await Promise.all([api.policies(), api.trace(state.trace)]);
    policyList = policyListOf(pl);
    const name = tr.name || `trace ${tr.id}`;
    $('#trace-title').textContent = `: ${name}`;
    document.title = `${name} \u00b7 Folio inspector \u00b7 mapcount-lab`;
  } catch (e) {
    showError(errBox, e);
    clear($('#policy-choices'));
    clear($('#folios-body'));
    return;
  }
  const form = $('#folio-form');
  renderPolicyChoices($('#policy-choices'), policyList, state.policies);
  syncControls(form, state);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = readControls(form, state);
    if (!next.policies.length) {
      showError(errBox, { error: 'Choose at least one policy.' });
      return;
    }
    state = next;
    setUrl('folio.html', state, true);
    reload();
  });

  $('#folios-body').addEventListener('click', (e) => {
    const a = e.target.closest('a.folio-link');
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    state.folio = a.dataset.folio;
    state.event = null;
    setUrl('folio.html', state, true);
    markCurrentFolio();
    loadHistory(true);
  });
  $('#events-list').addEventListener('click', (e) => {
    const a = e.target.closest('a[data-pos]');
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    go(Number(a.dataset.pos));
  });
  $('#step-first').addEventListener('click', () => go(0));
  $('#step-prev').addEventListener('click', () => go(pos - 1));
  $('#step-next').addEventListener('click', () => go(pos + 1));
  $('#step-last').addEventListener('click', () => go(history.events.length - 1));
  $('#step-prev-diff').addEventListener('click', () => goDiff(-1));
  $('#step-next-diff').addEventListener('click', () => goDiff(1));
  $('#step-range').addEventListener('input', (e) => go(Number(e.target.value)));
  $('#inspector-h').setAttribute('tabindex', '-1');
  setupKeys();
  window.addEventListener('popstate', () => {
    const prevTrace = state;
    state = readParams();
    syncControls(form, state);
    if (prevTrace.policies.join() !== state.policies.join() || prevTrace.arch !== state.arch) reload();
    else {
      markCurrentFolio();
      loadHistory(false);
    }
  });
  await reload();
}

init();
