// SPDX-License-Identifier: MIT
// format.js - how the pages print the API's numbers.  Pure functions, no
// DOM: the browser test imports this module to check the cells.

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const dec1Fmt = new Intl.NumberFormat('en-US', {
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});
const dec2Fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

export const DASH = '\u2014';

/** A number of the API: a finite number, or a BigInt (beyond 2^53). */
export function isNum(v) {
  return (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'bigint';
}

/** As a double, for arithmetic and comparisons. */
export function num(v) {
  return typeof v === 'bigint' ? Number(v) : v;
}

/** An integer with thousands separators: 1234567 -> "1,234,567". */
export function fmtInt(v) {
  return isNum(v) ? intFmt.format(v) : DASH;
}

/** One decimal: 12.5 -> "12.5", 1234.56 -> "1,234.6". */
export function fmtDec1(v) {
  return isNum(v) ? dec1Fmt.format(v) : DASH;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Bytes: "4 B", "2.01 KiB", "1.5 MiB" (binary units, two decimals at most). */
export function fmtBytes(v) {
  if (!isNum(v)) return DASH;
  const neg = num(v) < 0;
  let x = Math.abs(num(v));
  let u = 0;
  while (x >= 1024 && u < UNITS.length - 1) {
    x /= 1024;
    u++;
  }
  const s = u === 0 ? intFmt.format(x) : dec2Fmt.format(x);
  return `${neg ? '-' : ''}${s} ${UNITS[u]}`;
}

/** "agree / total", or a dash when there was nothing to compare. */
export function fmtRatio(agree, total) {
  if (!isNum(agree) || !isNum(total) || num(total) === 0) return DASH;
  return `${intFmt.format(agree)} / ${intFmt.format(total)}`;
}

/**
 * Headroom of a counter in bits: how many doublings its peak may still
 * take before it no longer fits its limit.  log2(limit) - log2(max(peak, 1));
 * negative when the counter overflowed.
 */
export function headroomBits(peak, limit) {
  if (!isNum(peak) || !isNum(limit) || num(limit) <= 0) return null;
  return Math.log2(num(limit)) - Math.log2(Math.max(num(peak), 1));
}

export function fmtBits(v) {
  return isNum(v) ? `${dec1Fmt.format(v)} bits` : DASH;
}

/** A percentage of done/total, 0..100, for progress bars. */
export function percent(done, total) {
  if (!isNum(done) || !isNum(total) || num(total) <= 0) return 0;
  return Math.max(0, Math.min(100, (100 * num(done)) / num(total)));
}

/** An ISO 8601 timestamp as "2026-11-22 03:17 UTC" (stable, unambiguous). */
export function fmtTime(iso) {
  if (typeof iso !== 'string' || !iso) return DASH;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())} UTC`;
}

/** Folios by order, {"0": 3, "9": 1} -> "order 0: 3 · order 9: 1". */
export function fmtByOrder(obj) {
  if (!obj || typeof obj !== 'object') return DASH;
  const keys = Object.keys(obj).sort((a, b) => Number(a) - Number(b));
  if (!keys.length) return DASH;
  return keys.map((k) => `${k}: ${fmtInt(obj[k])}`).join(' \u00b7 ');
}
