// SPDX-License-Identifier: MIT
// traces.js - the Traces page: the stored traces and the upload form.

import { api, uploadTrace } from './api.js';
import { $, h, clear, renderNav, showError, hideBox, viewUrl } from './common.js';
import { fmtInt, fmtBytes, fmtTime, fmtByOrder, percent, DASH } from './format.js';

const PAGE = 100;
let offset = 0;
let highlightId = null;

function traceRow(t) {
  const st = { trace: String(t.id) };
  const name = t.name || t.header_name || `trace ${t.id}`;
  const byOrder = t.folios_by_order || {};
  const tr = h('tr', { dataset: { id: t.id }, class: String(t.id) === String(highlightId) ? 'just-added' : null },
    h('th', { scope: 'row' },
      h('a', { href: viewUrl('compare.html', st), title: `Compare the policies on ${name}` }, name),
      t.sha256 ? h('span', { class: 'sha', title: `sha256 ${t.sha256}` }, t.sha256.slice(0, 12)) : null),
    h('td', { 'data-label': 'Source', dataset: { col: 'source' } }, t.source || DASH),
    h('td', { 'data-label': 'Kernel', dataset: { col: 'kernel' } }, t.kernel || DASH),
    h('td', { class: 'num', 'data-label': 'Events', dataset: { col: 'events', value: t.events } }, fmtInt(t.events)),
    h('td', { class: 'num', 'data-label': 'MMs', dataset: { col: 'mms', value: t.mms } }, fmtInt(t.mms)),
    h('td', { 'data-label': 'Folios by order', dataset: { col: 'folios_by_order' }, title: t.folios !== undefined ? `${fmtInt(t.folios)} folios` : null },
      fmtByOrder(byOrder)),
    h('td', { 'data-label': 'Uploaded', dataset: { col: 'uploaded' } },
      t.uploaded ? h('time', { datetime: t.uploaded, title: t.uploaded }, fmtTime(t.uploaded)) : DASH,
      t.upload_bytes !== undefined ? h('span', { class: 'muted small' }, ` ${fmtBytes(t.upload_bytes)}`) : null),
    h('td', { class: 'actions' },
      h('a', { href: viewUrl('compare.html', st), 'aria-label': `Compare policies on ${name}` }, 'Compare'),
      ' ',
      h('a', { href: viewUrl('folio.html', st), 'aria-label': `Inspect folios of ${name}` }, 'Folios')));
  return tr;
}

async function loadTraces(reset) {
  const body = $('#traces-body');
  const more = $('#traces-more');
  const errBox = $('#traces-error');
  if (reset) offset = 0;
  try {
    const page = await api.traces(PAGE, offset);
    const items = Array.isArray(page) ? page : (page.items || page.traces || []);
    if (reset) clear(body);
    for (const t of items) body.appendChild(traceRow(t));
    if (!body.children.length) {
      body.appendChild(h('tr', { class: 'placeholder' },
        h('td', { colspan: 8 }, 'No traces yet: upload one above.')));
    }
    const total = page.total ?? items.length;
    $('#traces-count').textContent = `${fmtInt(total)} trace${total === 1 ? '' : 's'}`;
    const next = page.next_offset;
    if (next !== null && next !== undefined) {
      offset = next;
      more.hidden = false;
    } else {
      more.hidden = true;
    }
    hideBox(errBox);
  } catch (e) {
    if (reset) {
      clear(body);
      body.appendChild(h('tr', { class: 'placeholder' }, h('td', { colspan: 8 }, 'Could not load the traces.')));
    }
    showError(errBox, e);
  }
}

function setupUpload() {
  const form = $('#upload-form');
  const input = $('#upload-file');
  const zone = $('#drop-zone');
  const chosen = $('#upload-chosen');
  const nameInput = $('#upload-name');
  const submit = $('#upload-submit');
  const progRow = $('#upload-progress-row');
  const prog = $('#upload-progress');
  const progText = $('#upload-progress-text');
  const status = $('#upload-status');
  const errBox = $('#upload-error');
  let file = null;

  const choose = (f) => {
    file = f;
    chosen.textContent = f ? `${f.name} (${fmtBytes(f.size)})` : '';
  };

  input.addEventListener('change', () => choose(input.files && input.files[0] ? input.files[0] : null));

  let depth = 0;
  zone.addEventListener('dragenter', (e) => {
    e.preventDefault();
    depth++;
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove('dragging');
  });
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    zone.classList.remove('dragging');
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) {
      choose(f);
      input.value = '';
      submit.focus();
    }
  });
  // A file dropped outside the zone must not navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    hideBox(errBox);
    status.textContent = '';
    if (!file) {
      showError(errBox, { error: 'Choose a trace file first.' });
      input.focus();
      return;
    }
    submit.disabled = true;
    progRow.hidden = false;
    prog.value = 0;
    prog.max = 100;
    progText.textContent = `Sending ${fmtBytes(file.size)}…`;
    try {
      const r = await uploadTrace(file, nameInput.value.trim(), {
        onProgress: (loaded, total) => {
          prog.value = percent(loaded, total);
          progText.textContent = `Sent ${fmtBytes(loaded)} of ${fmtBytes(total)} (${Math.floor(percent(loaded, total))}%)`;
        },
        onSent: () => {
          prog.removeAttribute('value'); // indeterminate: the server parses and stores
          progText.textContent = 'Sent; mapcountd is validating and storing the trace…';
        },
      });
      const t = r.body || {};
      highlightId = t.id;
      progRow.hidden = true;
      const name = t.name || file.name;
      const link = h('a', { href: viewUrl('compare.html', { trace: String(t.id) }) }, `compare the policies on ${name}`);
      clear(status);
      status.append(
        r.status === 201 ? `Stored ${name} (trace ${t.id}, ${fmtInt(t.events)} events): `
          : `Already stored as trace ${t.id} (${name}): `,
        link, '.');
      form.reset();
      choose(null);
      await loadTraces(true);
    } catch (err) {
      progRow.hidden = true;
      showError(errBox, err);
    } finally {
      submit.disabled = false;
    }
  });
}

renderNav('traces', {});
setupUpload();
$('#traces-more').addEventListener('click', () => loadTraces(false));
loadTraces(true);
