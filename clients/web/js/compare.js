// SPDX-License-Identifier: MIT
// compare.js - the Comparison page: policies side by side on one trace.

import { api, resolveDeferred } from './api.js';
import { $, h, clear, readParams, setUrl, viewUrl, renderNav, showError, hideBox } from './common.js';
import { fmtInt, fmtBits, fmtByOrder, percent, isNum, num, DASH } from './format.js';
import { columnGroups, countersOf } from './columns.js';
import { drawCharts, chartsAvailable } from './charts.js';
import { renderPolicyChoices, syncControls, readControls, policyListOf } from './controls.js';

let state = readParams();
let policyList = [];   // GET /api/policies
let trace = null;      // GET /api/traces/{id}
let inflight = null;   // AbortController of the running load

function isReference(name) {
  const p = policyList.find((x) => x.name === name);
  return p ? !!p.reference : name === 'exact';
}

/* ---- the trace ---- */

function renderTrace() {
  const facts = $('#trace-facts');
  clear(facts);
  if (!trace) return;
  const name = trace.name || `trace ${trace.id}`;
  $('#trace-title').textContent = `: ${name}`;
  document.title = `${name} \u00b7 Comparison \u00b7 mapcount-lab`;
  const fact = (label, value) => h('li', null, `${label} `, h('b', null, value));
  facts.append(
    fact('events', fmtInt(trace.events)),
    fact('MMs', fmtInt(trace.mms)),
    fact('folios by order', fmtByOrder(trace.folios_by_order)),
    fact('source', trace.source || DASH),
    fact('kernel', trace.kernel || DASH));
}

/* ---- the table ---- */

/** Text with line break opportunities after underscores (counter names). */
function breakable(text) {
  const parts = String(text).split('_');
  return parts.flatMap((p, i) => (i < parts.length - 1 ? [`${p}_`, h('wbr')] : [p]));
}

function bestOf(col, rows) {
  const scores = [];
  for (const r of rows) {
    if (r.reference) continue;
    const v = col.value(r.p);
    const t = col.total ? col.total(r.p) : undefined;
    let s = col.score ? col.score(r.p, v, t) : (isNum(v) ? num(v) : null);
    if (s === null || s === undefined || Number.isNaN(s)) continue;
    scores.push({ r, s });
  }
  if (scores.length < 2 || !col.better) return new Set();
  const vals = scores.map((x) => x.s);
  const target = col.better === 'low' ? Math.min(...vals) : Math.max(...vals);
  if (vals.every((v) => v === target)) return new Set();
  return new Set(scores.filter((x) => x.s === target).map((x) => x.r.name));
}

function renderTable(doc, policies) {
  const table = $('#compare-table');
  clear(table);
  const groups = columnGroups(policies);
  const rows = policies.map((p) => ({ p, name: p.policy, reference: isReference(p.policy) }));

  const gRow = h('tr', { class: 'groups' },
    h('th', { scope: 'col', rowspan: 2, class: 'policy-h' }, 'Policy'));
  const cRow = h('tr', { class: 'cols' });
  for (const g of groups) {
    if (!g.cols.length) continue;
    gRow.appendChild(h('th', { scope: 'colgroup', colspan: g.cols.length, class: 'group-start', id: `g-${g.id}`, title: g.title }, g.label));
    g.cols.forEach((c, i) => {
      cRow.appendChild(h('th', {
        scope: 'col', title: c.title, class: i === 0 ? 'group-start' : null,
        dataset: { key: c.key, group: g.id },
      }, c.label));
    });
  }
  table.appendChild(h('thead', null, gRow, cRow));

  const best = new Map();
  for (const g of groups) for (const c of g.cols) best.set(c.key, bestOf(c, rows));

  const tbody = h('tbody');
  for (const r of rows) {
    let failing = false;
    const tr = h('tr', { dataset: { policy: r.name } },
      h('th', { scope: 'row' }, r.name, r.reference ? h('span', { class: 'ref' }, 'reference') : null));
    for (const g of groups) {
      g.cols.forEach((c, i) => {
        const v = c.value(r.p);
        const t = c.total ? c.total(r.p) : undefined;
        const isFail = !r.reference && c.fail && c.fail(v);
        const isBest = best.get(c.key).has(r.name);
        if (isFail) failing = true;
        const text = c.text(v, t);
        const classes = ['num'];
        if (i === 0) classes.push('group-start');
        if (isFail) classes.push('fail');
        else if (isBest) classes.push('best');
        if (text === DASH) classes.push('na');
        const sub = c.sub ? c.sub(r.p) : null;
        const detail = c.detail ? c.detail(r.p) : null;
        const label = `${r.name}, ${g.label}, ${c.label}: ${text}` + (detail ? ` (${detail})` : '') +
          (isFail ? ' (correctness failure)' : isBest ? ' (best)' : '');
        tr.appendChild(h('td', {
          class: classes.join(' '),
          title: label,
          dataset: {
            key: c.key,
            value: isNum(v) ? String(v) : '',
            total: t === undefined ? null : (isNum(t) ? String(t) : ''),
            best: isBest ? '1' : null,
            fail: isFail ? '1' : null,
          },
        }, h('span', { class: 'v' }, text),
        isBest ? h('span', { class: 'sr-only' }, ' (best)') : null,
        isFail ? h('span', { class: 'sr-only' }, ' (correctness failure)') : null,
        sub ? h('span', { class: 'sub' }, breakable(sub)) : null));
      });
    }
    if (failing) tr.classList.add('failing');
    tbody.appendChild(tr);
  }
  table.appendChild(tbody);
}

function renderCounters(policies) {
  const table = $('#counters-table');
  clear(table);
  table.appendChild(h('thead', null, h('tr', null,
    h('th', { scope: 'col' }, 'Policy'),
    h('th', { scope: 'col' }, 'Counter'),
    h('th', { scope: 'col', class: 'num' }, 'Bits'),
    h('th', { scope: 'col', class: 'num' }, 'Peak'),
    h('th', { scope: 'col', class: 'num' }, 'Limit'),
    h('th', { scope: 'col', class: 'num' }, 'Headroom'),
    h('th', { scope: 'col', class: 'num' }, 'First overflow (event)'))));
  const tbody = h('tbody');
  let n = 0;
  for (const p of policies) {
    const cs = countersOf(p);
    n += cs.length;
    cs.forEach((c, i) => {
      const over = c.first_overflow_event !== null && c.first_overflow_event !== undefined;
      tbody.appendChild(h('tr', { dataset: { policy: p.policy, counter: c.name } },
        i === 0 ? h('th', { scope: 'rowgroup', rowspan: cs.length }, p.policy) : null,
        h('td', { class: 'mono' }, c.name),
        h('td', { class: 'num' }, fmtInt(c.bits)),
        h('td', { class: 'num', dataset: { value: String(c.peak) } }, fmtInt(c.peak)),
        h('td', { class: 'num', dataset: { value: String(c.limit) } }, fmtInt(c.limit)),
        h('td', { class: `num${c.headroom !== null && c.headroom < 0 ? ' fail' : ''}` }, fmtBits(c.headroom)),
        h('td', { class: 'num' }, over ? fmtInt(c.first_overflow_event) : DASH)));
    });
  }
  table.appendChild(tbody);
  $('#counters-count').textContent = `(${fmtInt(n)} counters)`;
}

/* ---- loading ---- */

function progress(show, done, total, status) {
  const row = $('#replay-progress-row');
  const bar = $('#replay-progress');
  const text = $('#replay-progress-text');
  row.hidden = !show;
  if (!show) return;
  if (isNum(total) && num(total) > 0) {
    bar.value = percent(done, total);
    text.textContent = `${status === 'queued' ? 'Queued' : 'Replaying'}: ` +
      `${fmtInt(done)} of ${fmtInt(total)} events (${Math.floor(percent(done, total))}%)`;
  } else {
    bar.removeAttribute('value');
    text.textContent = status === 'queued' ? 'Queued…' : 'Loading…';
  }
}

async function load() {
  if (inflight) inflight.abort();
  const ctl = new AbortController();
  inflight = ctl;
  const errBox = $('#page-error');
  hideBox(errBox);
  const policies = state.policies.length ? state.policies : policyList.map((p) => p.name);
  if (!policies.length) {
    showError(errBox, { error: 'Choose at least one policy.' });
    return;
  }
  $('#json-link').href = `/api/traces/${encodeURIComponent(state.trace)}/comparison?policies=` +
    `${encodeURIComponent(policies.join(','))}&arch=${state.arch}`;
  $('#folio-link').href = viewUrl('folio.html', { trace: state.trace, policies: state.policies, arch: state.arch });
  progress(true, 0, 0, 'loading');
  $('#compare-submit').disabled = true;
  try {
    const doc = await resolveDeferred(
      api.comparison(state.trace, policies, state.arch, { signal: ctl.signal }),
      (done, total, status) => progress(true, done, total, status),
      { signal: ctl.signal });
    if (ctl.signal.aborted) return;
    const t = doc && Array.isArray(doc.traces) ? doc.traces[0] : null;
    const pols = t && Array.isArray(t.policies) ? t.policies : [];
    progress(false);
    $('#results').hidden = false;
    const fidelity = columnGroups(pols).find((g) => g.id === 'fidelity');
    $('#results-sub').textContent = `${fmtInt(t ? t.events : undefined)} events \u00b7 ${doc.arch ?? state.arch}-bit \u00b7 ` +
      `${pols.length} polic${pols.length === 1 ? 'y' : 'ies'}` +
      (fidelity && !fidelity.cols.length ? ' \u00b7 the trace records no kernel answers: no fidelity columns' : '');
    renderTable(doc, pols);
    renderCounters(pols);
    if (chartsAvailable()) {
      $('#charts-missing').hidden = true;
      drawCharts(pols);
    } else {
      $('#charts-missing').hidden = false;
    }
    $('#results').dataset.ready = '1';
  } catch (e) {
    if (e.name === 'AbortError') return;
    progress(false);
    showError(errBox, e);
  } finally {
    if (inflight === ctl) {
      inflight = null;
      $('#compare-submit').disabled = false;
    }
  }
}

async function init() {
  renderNav('compare', state);
  const errBox = $('#page-error');
  if (!state.trace) {
    clear(errBox);
    errBox.hidden = false;
    errBox.append(h('p', null, 'No trace chosen: pick one on the ', h('a', { href: 'index.html' }, 'Traces page'), '.'));
    $('#compare-form').hidden = true;
    return;
  }
  try {
    const [pl, tr] = await Promise.all([api.policies(), api.trace(state.trace)]);
    policyList = policyListOf(pl);
    trace = tr;
  } catch (e) {
    showError(errBox, e);
    clear($('#policy-choices'));
    return;
  }
  renderTrace();
  renderPolicyChoices($('#policy-choices'), policyList, state.policies);
  syncControls($('#compare-form'), state);

  $('#compare-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const next = readControls($('#compare-form'), state);
    if (!next.policies.length) {
      showError(errBox, { error: 'Choose at least one policy.' });
      $('input[name="policy"]').focus();
      return;
    }
    state = next;
    setUrl('compare.html', state, true);
    renderNav('compare', state);
    load();
  });
  window.addEventListener('popstate', () => {
    state = readParams();
    syncControls($('#compare-form'), state);
    renderNav('compare', state);
    load();
  });
  load();
}

init();
