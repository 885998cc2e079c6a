// SPDX-License-Identifier: MIT
// columns.js - the columns of the comparison table: where each value comes
// from in the replay JSON (`mapcount replay --format json`), how it is
// printed, which way is better, what is a correctness failure.

import { fmtInt, fmtDec1, fmtBytes, fmtRatio, fmtBits, headroomBits, isNum, num, DASH } from './format.js';

/** The value at a dotted path ("cow.unsafe_reuse"), or undefined. */
export function at(obj, path) {
  let o = obj;
  for (const k of path.split('.')) {
    if (o === null || o === undefined || typeof o !== 'object') return undefined;
    o = o[k];
  }
  return o;
}

/** The orders present in any policy's memory.bytes_per_folio, ascending. */
export function ordersOf(policies) {
  const set = new Set();
  for (const p of policies) {
    for (const k of Object.keys(at(p, 'memory.bytes_per_folio') || {})) set.add(k);
  }
  return [...set].sort((a, b) => Number(a) - Number(b));
}

/** Each counter of a policy with its headroom in bits. */
export function countersOf(p) {
  const list = at(p, 'overflow.counters');
  if (!Array.isArray(list)) return [];
  return list.map((c) => ({ ...c, headroom: headroomBits(c.peak, c.limit) }));
}

/** The counter closest to its limit (least headroom), or null. */
export function tightest(p) {
  let best = null;
  for (const c of countersOf(p)) {
    if (c.headroom === null) continue;
    if (!best || c.headroom < best.headroom) best = c;
  }
  return best;
}

const plain = (key, label, title, better, extra = {}) => ({
  key, label, title, better,
  value: (p) => at(p, key),
  text: (v) => fmtInt(v),
  ...extra,
});

const bytes = (key, label, title, better, extra = {}) => ({
  key, label, title, better,
  value: (p) => at(p, key),
  text: (v) => fmtBytes(v),
  ...extra,
});

/** Agreement with the kernel: agree of agree + disagree (or of a total). */
const agreement = (group, label, title, agreeKey, disagreeKey, totalKey) => ({
  key: agreeKey,
  label, title,
  better: 'high',
  kind: 'ratio',
  value: (p) => at(p, agreeKey),
  total: (p) => {
    if (totalKey) return at(p, totalKey);
    const a = at(p, agreeKey);
    const d = at(p, disagreeKey);
    return isNum(a) && isNum(d) ? num(a) + num(d) : undefined;
  },
  // the score used for "best": the fraction agreeing
  score: (p, v, t) => (isNum(t) && num(t) > 0 ? num(v) / num(t) : null),
  text: (v, t) => fmtRatio(v, t),
});

/** Does the trace record kernel answers for this fidelity column? */
function recorded(col, policies) {
  return policies.some((p) => {
    const t = col.total(p);
    return isNum(t) && num(t) > 0;
  });
}

/**
 * The column groups for a report.  Fidelity columns appear only where the
 * trace has recorded kernel answers.  Each column: key (JSON path, also the
 * cell's data-key), label, title, better ('low', 'high' or null), value(p),
 * text(value, total), and optionally total(p), score(), fail(value).
 */
export function columnGroups(policies) {
  const orders = ordersOf(policies);
  return [
    {
      id: 'correctness', label: 'Correctness',
      cols: [
        plain('cow.unsafe_reuse', 'Unsafe reuse',
          'COW reused a page someone else still maps or pins: data corruption', 'low',
          { fail: (v) => isNum(v) && num(v) > 0 }),
        plain('shared.false_exclusive', 'False exclusive',
          'Said "exclusive" of a folio another MM maps', 'low',
          { fail: (v) => isNum(v) && num(v) > 0 }),
      ],
    },
    {
      id: 'precision', label: 'Precision',
      cols: [
        plain('cow.missed_reuse', 'Missed reuse', 'COW copied a page it could have reused', 'low'),
        plain('shared.false_shared', 'False shared', 'Said "maybe shared" of an exclusive folio', 'low'),
        bytes('stats.pss_err_max_bytes', 'PSS error', 'Largest PSS error of one mapping', 'low'),
        bytes('stats.uss_err_max_bytes', 'USS error', 'Largest USS error of one mapping', 'low'),
        {
          ...plain('partial.detected', 'Partial detected',
            'Partially mapped folios the policy would queue for deferred split, of those actually partially mapped; below: missed ones', 'high'),
          total: (p) => at(p, 'partial.actual'),
          text: (v, t) => (isNum(t) ? `${fmtInt(v)} / ${fmtInt(t)}` : fmtInt(v)),
          score: (p, v, t) => (isNum(t) && num(t) > 0 ? num(v) / num(t) : null),
          sub: (p) => {
            const m = at(p, 'partial.missed');
            return isNum(m) && num(m) > 0 ? `${fmtInt(m)} missed` : null;
          },
        },
      ],
    },
    {
      id: 'fidelity', label: 'Fidelity', title: 'Agreement with the answers the kernel recorded in the trace',
      cols: [
        agreement('fidelity', 'COW', 'COW decisions equal to the recorded kernel\'s', 'cow.kernel_agree', 'cow.kernel_disagree'),
        agreement('fidelity', 'Shared', 'Maybe-shared answers equal to the recorded kernel\'s', 'shared.kernel_agree', 'shared.kernel_disagree'),
        agreement('fidelity', 'Stats', 'PSS/USS/AnonPages equal to the recorded kernel\'s', 'stats.kernel_agree', 'stats.kernel_disagree'),
        agreement('fidelity', 'kpage\u00adcount', '/proc/kpagecount observations reproduced', 'observe.agree', null, 'observe.observed'),
      ].filter((c) => recorded(c, policies)),
    },
    {
      id: 'memory', label: 'Memory',
      cols: [
        ...orders.map((o) => bytes(`memory.bytes_per_folio.${o}`, `Order ${o}`,
          `Metadata bytes per folio of order ${o}`, 'low')),
        bytes('memory.metadata_bytes_peak', 'Peak', 'Peak metadata bytes over the trace', 'low'),
      ],
    },
    {
      id: 'overflow', label: 'Overflow',
      cols: [
        plain('overflow.events', 'Events',
          'Events at which a counter was beyond its limit (the design reacts: a slot is freed, tracking stops)', 'low'),
        {
          key: 'overflow.headroom', label: 'Headroom',
          title: 'The tightest counter: bits left between its peak and its limit',
          better: 'high',
          kind: 'derived',
          value: (p) => {
            const c = tightest(p);
            return c ? c.headroom : undefined;
          },
          text: (v) => fmtBits(v),
          // compared as printed: one decimal
          score: (p, v) => (isNum(v) ? Math.round(num(v) * 10) / 10 : null),
          sub: (p) => {
            const c = tightest(p);
            return c ? c.name : null;
          },
          detail: (p) => {
            const c = tightest(p);
            return c ? `${c.name}: peak ${fmtInt(c.peak)} of limit ${fmtInt(c.limit)}` : null;
          },
        },
      ],
    },
    {
      id: 'cost', label: 'Cost',
      cols: [
        {
          ...plain('cost.ns_per_event', 'ns/event',
            'Measured time per event (sampled); below: atomic operations and lock acquisitions the kernel path would do', 'low'),
          text: (v) => fmtDec1(v),
          sub: (p) => (isNum(at(p, 'cost.atomics')) ? `${fmtInt(at(p, 'cost.atomics'))} atomics` : null),
        },
      ],
    },
  ];
}

export { DASH };
