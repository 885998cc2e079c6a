// SPDX-License-Identifier: MIT
//
// web.test.mjs - the browser test of the mapcount-lab web UI (issue 7).
//
// Starts a real mapcountd on an ephemeral port with a fresh database and
// clients/web as its web root, drives Debian's chromium (headless) with
// playwright-core, and checks the three pages against the JSON API:
//
//   Traces      upload a scenario through the form (progress bar, status,
//               new row equal to GET /api/traces/{id}); a malformed file
//               shows the server's error and detail verbatim
//   Comparison  the replay's progress bar, then every cell of every
//               policy equal to GET /api/traces/{id}/comparison, best and
//               failure marks, charts drawn, arch 32 through the form and
//               a shareable URL
//   Folio       the most disputed folio first, stepping with the buttons
//               and the arrow keys, every policy's answers and fields
//               equal to GET .../folios/{folio}/history, disagreements
//               highlighted, the event index in the URL
//   Quality     no console errors or CSP violations, keyboard-only upload
//               and navigation, no horizontal overflow of the page at
//               1280x800 and on a phone
//
// Screenshots of each page go to the artifact directory.
//
// usage: node web.test.mjs --mapcountd BIN --source DIR --out DIR

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

/* ---- arguments ---- */

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['mapcountd', 'source', 'out']) {
  if (!args[k]) {
    console.error('usage: node web.test.mjs --mapcountd BIN --source DIR --out DIR');
    process.exit(2);
  }
}
const SRC = path.resolve(args.source);
const OUT = path.resolve(args.out);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCENARIO = path.join(SRC, 'traces/scenarios/kernel-observations-6.18.mct.txt');
const UNSAFE_SCENARIO = path.join(SRC, 'traces/scenarios/hugetlb-vmsplice.mct.txt');
const REPLAY_DELAY_MS = 1500; // the replay queue waits this long: the progress bar shows

// The page's own formatting functions: the cells must read exactly so.
const fmt = await import(pathToFileURL(path.join(SRC, 'clients/web/js/format.js')).href);

fs.mkdirSync(OUT, { recursive: true });
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'mapcount-web-'));

/* ---- reporting ---- */

let passed = 0;
let failed = 0;
const failures = [];

function ok(cond, what) {
  if (cond) {
    passed++;
    console.log(`ok - ${what}`);
  } else {
    failed++;
    failures.push(what);
    console.log(`not ok - ${what}`);
  }
  return cond;
}

function eq(got, want, what) {
  const good = got === want;
  if (!good) console.log(`#   got:  ${JSON.stringify(got)}\n#   want: ${JSON.stringify(want)}`);
  return ok(good, what);
}

/* ---- mapcountd ---- */

let server = null;
let serverLog = '';

function startServer() {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, MAPCOUNTD_TEST_REPLAY_DELAY_MS: String(REPLAY_DELAY_MS) };
    server = spawn(args.mapcountd, [
      '--listen', '127.0.0.1:0',
      '--db', path.join(WORK, 'web.db'),
      '--web-root', path.join(SRC, 'clients/web'),
    ], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => reject(new Error(`mapcountd did not start:\n${serverLog}`)), 20000);
    const onData = (d) => {
      serverLog += d.toString();
      const m = /mapcountd: listening on (http:\/\/\S+)/.exec(serverLog);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', (d) => { serverLog += d.toString(); });
    server.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`mapcountd exited (${code ?? sig}):\n${serverLog}`));
    });
  });
}

function stopServer() {
  if (!server || server.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => { server.kill('SIGKILL'); }, 10000);
    server.removeAllListeners('exit');
    server.on('exit', (code, sig) => {
      clearTimeout(t);
      ok(code === 0, `mapcountd exits cleanly on SIGTERM (${code ?? sig})`);
      resolve();
    });
    server.kill('SIGTERM');
  });
}

/** JSON with integers beyond 2^53 kept as decimal strings (counter limits). */
function parseBig(text) {
  return JSON.parse(text.replace(/([:\[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g, '$1"$2"'));
}

let BASE = '';
async function api(pathname, init) {
  const res = await fetch(BASE + pathname, init);
  const text = await res.text();
  return { status: res.status, body: text ? parseBig(text) : null };
}

/** An API number as the page prints it (strings: integers beyond 2^53). */
const big = (v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? BigInt(v) : v);

async function comparisonJSON(trace, policies, arch) {
  for (let i = 0; i < 600; i++) {
    const r = await api(`/api/traces/${trace}/comparison?policies=${policies.join(',')}&arch=${arch}`);
    if (r.status === 200) return r.body;
    if (r.status !== 202) throw new Error(`comparison: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('comparison: still not done');
}

/* ---- the browser ---- */

const consoleErrors = [];
let allowedErrors = []; // regexps of errors a step expects (the malformed upload's 400)

function watch(page, label) {
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && msg.type() !== 'warning') return;
    const text = msg.text();
    if (msg.type() === 'warning' && !/Content Security Policy|deprecated/i.test(text)) return;
    if (allowedErrors.some((re) => re.test(text))) return;
    consoleErrors.push(`${label}: console.${msg.type()}: ${text}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${label}: page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    const f = r.failure();
    if (f && /ERR_ABORTED/.test(f.errorText)) return; // navigations away, aborted polls
    consoleErrors.push(`${label}: request failed: ${r.url()} ${f ? f.errorText : ''}`);
  });
}

async function shot(page, name) {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${file}`);
}

/** Does the page scroll sideways (content wider than the viewport)? */
async function overflowsX(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
}

/* ---- the steps ---- */

async function tracesPage(page) {
  await page.goto(`${BASE}/`);
  await page.waitForSelector('#traces-body tr.placeholder, #traces-body tr[data-id]');
  eq(await page.title(), 'Traces · mapcount-lab', 'GET / serves the Traces page');

  // upload through the form, with the keyboard only: Tab to the name, type, Enter
  await page.evaluate(() => {
    window.__progressShown = false;
    const row = document.getElementById('upload-progress-row');
    new MutationObserver(() => { if (!row.hidden) window.__progressShown = true; })
      .observe(row, { attributes: true, attributeFilter: ['hidden'] });
  });
  await page.setInputFiles('#upload-file', SCENARIO);
  await page.focus('#upload-file');
  await page.keyboard.press('Tab');
  eq(await page.evaluate(() => document.activeElement.id), 'upload-name', 'Tab moves from the file input to the name');
  await page.keyboard.type('kernel-observations');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#upload-status a', { timeout: 30000 });
  ok(await page.evaluate(() => window.__progressShown), 'the upload progress bar is shown while uploading');
  const status = await page.textContent('#upload-status');
  ok(/^Stored kernel-observations \(trace \d+, 82 events\)/.test(status), `upload status: ${status}`);
  const traceId = /trace (\d+)/.exec(status)[1];
  ok(await page.isHidden('#upload-error'), 'no error after a good upload');

  // the new row equals the API's description of the trace
  const t = (await api(`/api/traces/${traceId}`)).body;
  const row = page.locator(`#traces-body tr[data-id="${traceId}"]`);
  await row.waitFor();
  eq(await row.locator('th a').first().textContent(), t.name, 'row: name');
  eq(await row.locator('td[data-col="source"]').textContent(), t.source, 'row: source');
  eq(await row.locator('td[data-col="kernel"]').textContent(), t.kernel, 'row: kernel');
  eq(await row.locator('td[data-col="events"]').textContent(), fmt.fmtInt(t.events), 'row: events');
  eq(await row.locator('td[data-col="mms"]').textContent(), fmt.fmtInt(t.mms), 'row: MMs');
  eq(await row.locator('td[data-col="folios_by_order"]').textContent(), fmt.fmtByOrder(t.folios_by_order),
    'row: folios by order');
  eq(await row.locator('td[data-col="uploaded"] time').getAttribute('datetime'), t.uploaded, 'row: uploaded');

  // the same content again: 200 and the existing id
  await page.setInputFiles('#upload-file', SCENARIO);
  await page.click('#upload-submit');
  await page.waitForFunction(() => /Already stored/.test(document.getElementById('upload-status').textContent));
  ok((await page.textContent('#upload-status')).includes(`trace ${traceId}`), 'a duplicate upload names the existing trace');
  await shot(page, 'traces');

  // a malformed trace: the server's error, verbatim
  const bad = path.join(WORK, 'malformed.mct.txt');
  fs.writeFileSync(bad, 'mct 1 page_size=4096 pmd_order=9 name=malformed\nmm p\nalloc f order=2\nmap p f 0+9\n');
  const form = new FormData();
  form.append('file', new Blob([fs.readFileSync(bad)]), 'malformed.mct.txt');
  const want = await api('/api/traces', { method: 'POST', body: form });
  eq(want.status, 400, 'the API refuses the malformed trace (400)');
  allowedErrors = [/status of 400/];
  await page.setInputFiles('#upload-file', bad);
  await page.click('#upload-submit');
  await page.waitForSelector('#upload-error:not([hidden]) .err-error');
  allowedErrors = [];
  eq(await page.textContent('#upload-error .err-error'), want.body.error, 'upload error: the server\'s error verbatim');
  eq(await page.textContent('#upload-error .err-detail'), want.body.detail, 'upload error: the server\'s detail verbatim');
  eq((await api('/api/traces')).body.total, 1, 'nothing stored after the malformed upload');
  await shot(page, 'traces-upload-error');
  ok(!(await overflowsX(page)), 'Traces: no horizontal overflow at 1280x800');
  return traceId;
}

function compareChecks(policies) {
  // the test's own list of where each column comes from
  const orders = new Set();
  for (const p of policies) for (const o of Object.keys(p.memory.bytes_per_folio)) orders.add(o);
  const checks = [
    ['cow.unsafe_reuse', (p) => p.cow.unsafe_reuse, fmt.fmtInt],
    ['shared.false_exclusive', (p) => p.shared.false_exclusive, fmt.fmtInt],
    ['cow.missed_reuse', (p) => p.cow.missed_reuse, fmt.fmtInt],
    ['shared.false_shared', (p) => p.shared.false_shared, fmt.fmtInt],
    ['stats.pss_err_max_bytes', (p) => p.stats.pss_err_max_bytes, fmt.fmtBytes],
    ['stats.uss_err_max_bytes', (p) => p.stats.uss_err_max_bytes, fmt.fmtBytes],
    ['partial.detected', (p) => p.partial.detected, (v, p) => `${fmt.fmtInt(v)} / ${fmt.fmtInt(p.partial.actual)}`,
      (p) => p.partial.actual],
    ['cow.kernel_agree', (p) => p.cow.kernel_agree, (v, p) => fmt.fmtRatio(v, p.cow.kernel_agree + p.cow.kernel_disagree),
      (p) => p.cow.kernel_agree + p.cow.kernel_disagree, 'fidelity'],
    ['shared.kernel_agree', (p) => p.shared.kernel_agree,
      (v, p) => fmt.fmtRatio(v, p.shared.kernel_agree + p.shared.kernel_disagree),
      (p) => p.shared.kernel_agree + p.shared.kernel_disagree, 'fidelity'],
    ['stats.kernel_agree', (p) => p.stats.kernel_agree,
      (v, p) => fmt.fmtRatio(v, p.stats.kernel_agree + p.stats.kernel_disagree),
      (p) => p.stats.kernel_agree + p.stats.kernel_disagree, 'fidelity'],
    ['observe.agree', (p) => p.observe.agree, (v, p) => fmt.fmtRatio(v, p.observe.observed), (p) => p.observe.observed,
      'fidelity'],
    ...[...orders].map((o) => [`memory.bytes_per_folio.${o}`, (p) => p.memory.bytes_per_folio[o], fmt.fmtBytes]),
    ['memory.metadata_bytes_peak', (p) => p.memory.metadata_bytes_peak, fmt.fmtBytes],
    ['overflow.events', (p) => p.overflow.events, fmt.fmtInt],
    ['cost.ns_per_event', (p) => p.cost.ns_per_event, fmt.fmtDec1],
  ];
  return checks;
}

async function checkTable(page, doc, label) {
  const pols = doc.traces[0].policies;
  const rows = await page.$$eval('#compare-table tbody tr', (trs) => trs.map((tr) => ({
    policy: tr.dataset.policy,
    cells: Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.key, {
      value: td.dataset.value, total: td.dataset.total, text: td.querySelector('.v').textContent,
      fail: td.dataset.fail === '1', best: td.dataset.best === '1',
    }])),
  })));
  eq(rows.map((r) => r.policy).join(','), pols.map((p) => p.policy).join(','), `${label}: one row per policy, in order`);
  let cells = 0;
  let bad = 0;
  for (const p of pols) {
    const row = rows.find((r) => r.policy === p.policy);
    if (!row) continue;
    for (const [key, get, format, total, kind] of compareChecks(pols)) {
      const c = row.cells[key];
      const v = get(p);
      const wantText = format(big(v), p);
      cells++;
      // fidelity columns only where the trace recorded kernel answers
      if (kind === 'fidelity' && !pols.some((q) => total(q) > 0)) {
        if (c !== undefined) {
          bad++;
          console.log(`#   ${p.policy} ${key}: a column without recorded answers`);
        }
        continue;
      }
      if (!c || c.value !== String(v) || c.text !== wantText ||
          (total && c.total !== String(total(p)))) {
        bad++;
        console.log(`#   ${p.policy} ${key}: cell ${JSON.stringify(c)}, API ${JSON.stringify(v)} -> ${JSON.stringify(wantText)}`);
      }
    }
    // headroom: the tightest counter's, from the API's peaks and limits
    const hs = p.overflow.counters.map((c) => fmt.headroomBits(big(c.peak), big(c.limit))).filter((x) => x !== null);
    const c = row.cells['overflow.headroom'];
    cells++;
    if (!c || c.text !== fmt.fmtBits(Math.min(...hs))) {
      bad++;
      console.log(`#   ${p.policy} headroom: cell ${JSON.stringify(c)}, API ${fmt.fmtBits(Math.min(...hs))}`);
    }
    // correctness failures in red: unsafe reuse and false exclusive, never the reference
    const ref = p.policy === 'exact';
    for (const [key, v] of [['cow.unsafe_reuse', p.cow.unsafe_reuse], ['shared.false_exclusive', p.shared.false_exclusive]]) {
      cells++;
      if (row.cells[key].fail !== (!ref && v > 0)) {
        bad++;
        console.log(`#   ${p.policy} ${key}: fail mark ${row.cells[key].fail} for ${v}`);
      }
    }
  }
  ok(bad === 0 && cells > 0, `${label}: ${cells} cells equal the JSON API's values (${bad} differ)`);
  // best marks: in each column some non-reference row is marked best whenever values differ
  const missed = await page.$$eval('#compare-table tbody tr:not([data-policy="exact"]) td[data-best="1"]', (l) => l.length);
  ok(missed > 0, `${label}: best cells are marked (${missed})`);
}

async function comparisonPage(page, traceId) {
  // from the Traces page: the row's Compare link
  await page.goto(`${BASE}/`);
  await page.click(`#traces-body tr[data-id="${traceId}"] a:text("Compare")`);
  await page.waitForURL(/compare\.html\?trace=/);
  // the replay is queued for REPLAY_DELAY_MS: the progress bar shows
  await page.waitForSelector('#replay-progress-row:not([hidden])', { timeout: 5000 });
  const ptext = await page.textContent('#replay-progress-text');
  ok(/Queued|Replaying|Loading/.test(ptext), `the replay's progress is shown: ${ptext}`);
  await page.waitForSelector('#results[data-ready]', { timeout: 60000 });
  ok(await page.isHidden('#replay-progress-row'), 'the progress bar goes once the replay is done');

  const policies = await page.$$eval('input[name="policy"]', (l) => l.map((i) => i.value));
  const all = (await api('/api/policies')).body.policies.map((p) => p.name);
  eq(policies.join(','), all.join(','), 'policy choices come from /api/policies');
  const doc = await comparisonJSON(traceId, all, 64);
  await checkTable(page, doc, 'arch 64');
  ok(await page.isVisible('#chart-meta') && await page.isVisible('#chart-cow') && await page.isVisible('#chart-overflow'),
    'the three charts are drawn');
  ok(await page.isVisible('#chart-timeline'), 'the timeline chart is drawn');
  const tl = await page.evaluate(() => {
    const c = window.Chart && window.Chart.getChart('chart-timeline');
    return c ? c.data.datasets.map((d) => ({ label: d.label, n: d.data.length, last: d.data[d.data.length - 1] })) : null;
  });
  const tp = doc.traces[0].policies;
  ok(tl && tp.every((p) => tl.some((d) => d.label === `${p.policy}: missed reuses` &&
      d.n === p.series.events.length && d.last.x === p.series.events[p.series.events.length - 1] &&
      d.last.y === p.cow.missed_reuse)),
    `the timeline has each policy's missed reuses, ending at the table's value (${tl && tl.length} series)`);
  ok(await page.evaluate(() => typeof window.Chart === 'function'), 'Chart.js is loaded from /node_modules');
  ok(!(await overflowsX(page)), 'Comparison: no horizontal overflow at 1280x800');
  ok(await page.$eval('#compare-table', (t) => t.parentElement.scrollWidth <= t.parentElement.clientWidth),
    'Comparison: the whole table fits at 1280x800');
  await shot(page, 'compare');

  // arch 32 and a subset of policies through the form, with the keyboard
  const subset = ['exact', 'two-slot', 'count64'];
  for (const name of all) {
    const cb = page.locator(`input[name="policy"][value="${name}"]`);
    if ((await cb.isChecked()) !== subset.includes(name)) {
      await cb.focus();
      await page.keyboard.press('Space');
    }
  }
  await page.locator('input[name="arch"][value="64"]').focus();
  await page.keyboard.press('ArrowRight'); // radio group: to 32-bit
  ok(await page.locator('input[name="arch"][value="32"]').isChecked(), 'arrow keys choose the 32-bit arch');
  await page.evaluate(() => document.getElementById('results').removeAttribute('data-ready'));
  await page.locator('#compare-submit').focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('#results[data-ready]', { timeout: 60000 });
  const url = new URL(page.url());
  eq(url.searchParams.get('arch'), '32', 'the URL carries arch=32');
  eq(url.searchParams.get('policies'), subset.join(','), 'the URL carries the policies');
  await checkTable(page, await comparisonJSON(traceId, subset, 32), 'arch 32, three policies');

  // the URL is shareable: a fresh load shows the same view
  await page.goto(page.url());
  await page.waitForSelector('#results[data-ready]', { timeout: 60000 });
  ok(await page.locator('input[name="arch"][value="32"]').isChecked(), 'a shared URL restores the arch');
  eq(await page.$$eval('#compare-table tbody tr', (l) => l.map((tr) => tr.dataset.policy).join(',')),
    subset.join(','), 'a shared URL restores the policies');
  await shot(page, 'compare-arch32');
}

async function unsafeComparison(page) {
  // a scenario with unsafe reuses: correctness failures in red
  const form = new FormData();
  form.append('file', new Blob([fs.readFileSync(UNSAFE_SCENARIO)]), path.basename(UNSAFE_SCENARIO));
  const up = await api('/api/traces', { method: 'POST', body: form });
  eq(up.status, 201, 'hugetlb-vmsplice stored');
  await page.goto(`${BASE}/compare.html?trace=${up.body.id}`);
  await page.waitForSelector('#results[data-ready]', { timeout: 60000 });
  const all = (await api('/api/policies')).body.policies.map((p) => p.name);
  const doc = await comparisonJSON(up.body.id, all, 64);
  await checkTable(page, doc, 'hugetlb-vmsplice');
  const red = await page.$$eval('#compare-table td.fail', (l) => l.length);
  const want = doc.traces[0].policies.filter((p) => p.policy !== 'exact' && p.cow.unsafe_reuse > 0).length;
  ok(want > 0 && red >= want, `unsafe reuses are marked in red (${red} cells)`);
  const color = await page.$eval('#compare-table td.fail', (td) => getComputedStyle(td).color);
  eq(color, 'rgb(164, 14, 38)', 'failure cells are red');
  await shot(page, 'compare-unsafe');
}

async function folioPage(page, traceId) {
  await page.goto(`${BASE}/compare.html?trace=${traceId}`);
  await page.waitForSelector('#results[data-ready]', { timeout: 60000 });
  await page.click('#folio-link');
  await page.waitForURL(/folio\.html/);
  await page.waitForSelector('#inspector[data-ready]', { timeout: 60000 });

  const all = (await api('/api/policies')).body.policies.map((p) => p.name);
  const folios = (await api(`/api/traces/${traceId}/folios?sort=disagreement&limit=100&policies=${all.join(',')}&arch=64`)).body;
  const listed = await page.$$eval('#folios-body tr[data-folio]', (l) => l.map((tr) => tr.dataset.folio));
  eq(listed.join(','), folios.folios.map((f) => f.folio).join(','), 'the folio list is the API\'s, most disputed first');
  const top = folios.folios[0];
  ok(top.disagreements > 0, `the most disputed folio (${top.folio}) has disagreements`);
  eq(new URL(page.url()).searchParams.get('folio'), top.folio, 'the most disputed folio is opened first, and in the URL');

  const hist = (await api(`/api/traces/${traceId}/folios/${top.folio}/history?policies=${all.join(',')}&arch=64`)).body;
  const n = hist.events.length;
  eq(await page.textContent('#step-pos'), `Event 1 of ${fmt.fmtInt(n)}`, 'the inspector starts at the first event');

  async function checkEvent(i, how) {
    const ev = hist.events[i];
    const got = await page.evaluate(() => {
      const out = { pos: document.getElementById('step-pos').textContent, answers: {}, fields: {}, diff: {} };
      for (const td of document.querySelectorAll('#state-table tr[data-row="maybe_shared"] td, #state-table tr[data-row="cow_reuse"] td')) {
        const row = td.parentElement.dataset.row;
        out.answers[`${td.dataset.policy}/${row}`] = td.dataset.value;
        out.diff[`${td.dataset.policy}/${row}`] = td.classList.contains('diff');
      }
      for (const td of document.querySelectorAll('#state-table tr[data-row^="field:"] td')) {
        out.fields[`${td.dataset.policy}/${td.parentElement.dataset.row.slice(6)}`] = td.dataset.value;
      }
      out.event = document.getElementById('event-now').textContent;
      return out;
    });
    let bad = 0;
    const ref = ev.policies[0];
    for (const p of ev.policies) {
      for (const k of ['maybe_shared', 'cow_reuse']) {
        if (!(k in p)) continue;
        const key = `${p.policy}/${k}`;
        if (got.answers[key] !== String(p[k])) bad++;
        if (got.diff[key] !== (p.policy !== ref.policy && p[k] !== ref[k])) bad++;
      }
      for (const [k, v] of Object.entries(p.fields || {})) {
        if (/^(slot\d+|mm\d+)_/.test(k)) continue;
        if (got.fields[`${p.policy}/${k}`] !== String(v)) bad++;
      }
    }
    ok(bad === 0 && got.event.includes(ev.event) && got.pos.startsWith(`Event ${fmt.fmtInt(i + 1)} of`),
      `${how}: event ${i + 1} (#${ev.index} ${ev.event}): every policy's answers and fields equal the API's`);
    eq(new URL(page.url()).searchParams.get('event'), String(ev.index), `${how}: the URL carries event=${ev.index}`);
  }

  await checkEvent(0, 'first');
  await page.click('#step-next');
  await checkEvent(1, 'Next button');
  await page.locator('#step-next').focus();
  await page.keyboard.press('Enter');
  await checkEvent(2, 'Enter on Next');
  await page.locator('#inspector-h').focus();
  await page.keyboard.press('ArrowRight');
  await checkEvent(3, 'ArrowRight');
  await page.keyboard.press('ArrowLeft');
  await checkEvent(2, 'ArrowLeft');
  await page.keyboard.press('End');
  await checkEvent(n - 1, 'End');
  await page.keyboard.press('Home');
  await checkEvent(0, 'Home');

  // to the first disagreement: highlighted
  const firstDiff = hist.events.findIndex((ev) => ev.policies.slice(1).some((p) =>
    p.maybe_shared !== ev.policies[0].maybe_shared ||
    ('cow_reuse' in p && p.cow_reuse !== ev.policies[0].cow_reuse)));
  ok(firstDiff >= 0, 'the history has a disagreement');
  await page.keyboard.press('Shift+ArrowRight');
  await checkEvent(firstDiff, 'Shift+ArrowRight (next disagreement)');
  ok(await page.locator('#state-table td.diff').count() > 0, 'the disagreement is highlighted');
  await shot(page, 'folio');

  // a shared URL opens the same folio at the same event
  const shared = page.url();
  await page.goto(`${BASE}/`);
  await page.goto(shared);
  await page.waitForSelector('#inspector[data-ready]', { timeout: 60000 });
  await checkEvent(firstDiff, 'shared URL');
  ok(!(await overflowsX(page)), 'Folio inspector: no horizontal overflow at 1280x800');
  return shared;
}

async function phone(context, traceId, folioUrl) {
  const page = await context.newPage();
  watch(page, 'phone');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${BASE}/`);
  await page.waitForSelector('#traces-body tr[data-id]');
  ok(!(await overflowsX(page)), 'phone: the Traces page does not scroll sideways');
  await shot(page, 'phone-traces');
  await page.goto(`${BASE}/compare.html?trace=${traceId}`);
  await page.waitForSelector('#results[data-ready]', { timeout: 60000 });
  ok(!(await overflowsX(page)), 'phone: the Comparison page does not scroll sideways (tables scroll in their box)');
  await shot(page, 'phone-compare');
  await page.goto(folioUrl);
  await page.waitForSelector('#inspector[data-ready]', { timeout: 60000 });
  ok(!(await overflowsX(page)), 'phone: the Folio inspector does not scroll sideways');
  await shot(page, 'phone-folio');
  await page.close();
}

/* ---- main ---- */

let context = null;
let exitCode = 0;
try {
  BASE = await startServer();
  console.log(`# mapcountd at ${BASE}; screenshots in ${OUT}`);
  context = await chromium.launchPersistentContext(path.join(WORK, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context.setDefaultTimeout(20000);
  const page = context.pages()[0] || await context.newPage();
  watch(page, 'desktop');

  const traceId = await tracesPage(page);
  await comparisonPage(page, traceId);
  const folioUrl = await folioPage(page, traceId);
  await unsafeComparison(page);
  await phone(context, traceId, folioUrl);

  for (const e of consoleErrors) console.log(`#   ${e}`);
  ok(consoleErrors.length === 0, `no console errors, CSP violations or failed requests (${consoleErrors.length})`);
} catch (e) {
  failed++;
  failures.push(String(e && e.stack ? e.stack : e));
  console.log(`not ok - ${e && e.stack ? e.stack : e}`);
  try {
    const pages = context ? context.pages() : [];
    if (pages.length) await shot(pages[pages.length - 1], 'failure');
  } catch { /* no screenshot */ }
} finally {
  if (context) await context.close().catch(() => {});
  await stopServer().catch(() => {});
  if (failed) {
    console.log('# mapcountd log:');
    console.log(serverLog.split('\n').map((l) => `#   ${l}`).join('\n'));
  }
  fs.rmSync(WORK, { recursive: true, force: true });
  console.log(`web: ${passed} passed, ${failed} failed`);
  exitCode = failed ? 1 : 0;
}
process.exit(exitCode);
