// SPDX-License-Identifier: MIT
// charts.js - the comparison's charts, drawn with Chart.js (the UMD build,
// loaded from /node_modules/chart.js/dist/ by the page: window.Chart).

import { at, ordersOf, countersOf } from './columns.js';
import { fmtBytes, fmtInt, fmtBits, isNum, num } from './format.js';

// Colour-blind-safe palette (Okabe-Ito), one colour per policy.
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
const charts = new Map();

export function chartsAvailable() {
  return typeof window.Chart === 'function';
}

function colour(i) {
  return PALETTE[i % PALETTE.length];
}

function draw(id, config) {
  const old = charts.get(id);
  if (old) old.destroy();
  const canvas = document.getElementById(id);
  if (!canvas) return null;
  const c = new window.Chart(canvas, config);
  charts.set(id, c);
  return c;
}

function baseOptions(extra = {}) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: {
      legend: { position: 'bottom', labels: { boxWidth: 12, font: { size: 11 } } },
      ...extra.plugins,
    },
    ...extra,
  };
}

function drawMeta(policies) {
  const orders = ordersOf(policies);
  const datasets = policies.map((p, i) => ({
    label: p.policy,
    backgroundColor: colour(i),
    data: orders.map((o) => {
      const v = at(p, `memory.bytes_per_folio.${o}`);
      return isNum(v) ? num(v) : null;
    }),
  }));
  draw('chart-meta', {
    type: 'bar',
    data: { labels: orders.map((o) => `order ${o}`), datasets },
    options: baseOptions({
      scales: {
        y: {
          type: 'logarithmic',
          title: { display: true, text: 'bytes per folio' },
          ticks: { callback: (v) => (Number.isInteger(Math.log10(v)) || v === 1 ? fmtBytes(v) : '') },
        },
      },
      plugins: {
        tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${fmtBytes(ctx.raw)}` } },
      },
    }),
  });
}

function drawCow(policies) {
  const get = (p, k) => num(at(p, `cow.${k}`) ?? 0);
  const stacks = [
    ['reused, correctly', '#009E73', (p) => get(p, 'reuse') - get(p, 'unsafe_reuse')],
    ['copied, correctly', '#56B4E9', (p) => get(p, 'copy') - get(p, 'missed_reuse')],
    ['missed reuse (copied)', '#E69F00', (p) => get(p, 'missed_reuse')],
    ['unsafe reuse', '#C0142C', (p) => get(p, 'unsafe_reuse')],
  ];
  draw('chart-cow', {
    type: 'bar',
    data: {
      labels: policies.map((p) => p.policy),
      datasets: stacks.map(([label, color, f]) => ({
        label, backgroundColor: color, data: policies.map(f),
      })),
    },
    options: baseOptions({
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: 'write faults' },
          ticks: { precision: 0, callback: (v) => fmtInt(v) } },
      },
      plugins: {
        tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${fmtInt(ctx.raw)}` } },
      },
    }),
  });
}

function drawOverflow(policies) {
  const names = [];
  for (const p of policies) {
    for (const c of countersOf(p)) if (!names.includes(c.name)) names.push(c.name);
  }
  const datasets = policies.map((p, i) => {
    const cs = countersOf(p);
    return {
      label: p.policy,
      backgroundColor: colour(i),
      data: names.map((n) => {
        const c = cs.find((x) => x.name === n);
        return c && c.headroom !== null ? Math.round(c.headroom * 10) / 10 : null;
      }),
    };
  });
  draw('chart-overflow', {
    type: 'bar',
    data: { labels: names, datasets },
    options: baseOptions({
      indexAxis: 'y',
      scales: {
        x: { title: { display: true, text: 'headroom (bits)' } },
        y: { ticks: { font: { size: 11 } } },
      },
      plugins: {
        tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${fmtBits(ctx.raw)}` } },
      },
    }),
  });
}

/**
 * The timeline: each policy's "series" in the report (engine_timeline():
 * at most 128 points, evenly spaced over the trace) gives "events" and
 * the cumulative counts at each, of which this draws missed_reuse and
 * pss_err_max_bytes (the largest PSS error of a stat so far).  Returns
 * false when the report has none (results cached by an older mapcountd).
 */
function drawTimeline(policies) {
  const datasets = [];
  policies.forEach((p, i) => {
    const s = p.series;
    if (!s || !Array.isArray(s.events)) return;
    const line = (key, label, axis, dash) => {
      if (!Array.isArray(s[key])) return;
      datasets.push({
        label: `${p.policy}: ${label}`, borderColor: colour(i), backgroundColor: colour(i), borderDash: dash,
        data: s[key].map((v, k) => ({ x: num(s.events[k]), y: num(v) })), yAxisID: axis, pointRadius: 0, stepped: true,
      });
    };
    line('missed_reuse', 'missed reuses', 'y', []);
    line('pss_err_max_bytes', 'PSS error', 'y2', [5, 3]);
  });
  if (!datasets.length) return false;
  draw('chart-timeline', {
    type: 'line',
    data: { datasets },
    options: baseOptions({
      parsing: false,
      scales: {
        x: { type: 'linear', title: { display: true, text: 'event' }, ticks: { callback: (v) => fmtInt(v) } },
        y: { beginAtZero: true, title: { display: true, text: 'missed reuses' }, ticks: { precision: 0 } },
        y2: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false },
          title: { display: true, text: 'PSS error' }, ticks: { callback: (v) => fmtBytes(v) } },
      },
    }),
  });
  return true;
}

export function drawCharts(policies) {
  drawMeta(policies);
  drawCow(policies);
  drawOverflow(policies);
  const ok = drawTimeline(policies);
  const box = document.getElementById('timeline-box');
  const note = document.getElementById('timeline-note');
  if (box) box.hidden = !ok;
  if (note) {
    note.textContent = ok
      ? 'Cumulative over the trace\u2019s events; dashed: PSS error.'
      : 'Not available: this result has no per-event series (computed by an older mapcountd).';
  }
}
