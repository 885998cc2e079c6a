// SPDX-License-Identifier: MIT
// common.js - DOM helpers, the shareable URL state, messages.

/**
 * Create an element: h('a', {href: '/', class: 'x'}, 'text', child...).
 * Attributes named on* are not supported (no inline handlers: CSP);
 * a `dataset` object sets data-* attributes.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'dataset') {
        for (const [dk, dv] of Object.entries(v)) {
          if (dv !== undefined && dv !== null) el.dataset[dk] = String(dv);
        }
      } else if (k === 'class') {
        el.className = v;
      } else if (v === true) {
        el.setAttribute(k, '');
      } else {
        el.setAttribute(k, String(v));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** The view's state, from the query string. */
export function readParams() {
  const p = new URLSearchParams(window.location.search);
  // a hand-written "two-slot+pages" reaches us as "two-slot pages": names have no spaces
  const list = (k) => (p.get(k) || '').split(',').map((s) => s.trim().replace(/ /g, '+')).filter(Boolean);
  const arch = p.get('arch') === '32' ? 32 : 64;
  const ev = p.get('event');
  return {
    trace: p.get('trace') || '',
    policies: list('policies'),
    arch,
    folio: p.get('folio') || '',
    event: ev !== null && /^\d+$/.test(ev) ? Number(ev) : null,
  };
}

/** A page URL with the given state (empty values left out). */
export function viewUrl(page, state) {
  const p = new URLSearchParams();
  if (state.trace) p.set('trace', state.trace);
  if (state.policies && state.policies.length) p.set('policies', state.policies.join(','));
  if (state.arch) p.set('arch', String(state.arch));
  if (state.folio) p.set('folio', state.folio);
  if (state.event !== null && state.event !== undefined) p.set('event', String(state.event));
  const qs = p.toString().replace(/%2C/g, ',');
  return qs ? `${page}?${qs}` : page;
}

/** Replace (or push) the current history entry with the view's state. */
export function setUrl(page, state, push = false) {
  const url = viewUrl(page, state);
  if (url === window.location.pathname.replace(/^.*\//, '') + window.location.search) return;
  if (push) window.history.pushState(null, '', url);
  else window.history.replaceState(null, '', url);
}

/**
 * Show an error in a role=alert element: the server's error and detail
 * verbatim, each in its own element.
 */
export function showError(box, err) {
  clear(box);
  box.hidden = false;
  if (err && err.error !== undefined) {
    box.appendChild(h('p', { class: 'err-title' },
      err.status ? `Error ${err.status}: ` : 'Error: ',
      h('span', { class: 'err-error' }, err.error)));
    if (err.detail) box.appendChild(h('pre', { class: 'err-detail' }, err.detail));
  } else {
    box.appendChild(h('p', { class: 'err-title' }, 'Error: ',
      h('span', { class: 'err-error' }, String((err && err.message) || err))));
  }
}

export function hideBox(box) {
  clear(box);
  box.hidden = true;
}

/** Fill the site navigation, marking the current page and carrying the state. */
export function renderNav(current, state) {
  const nav = $('#site-nav');
  if (!nav) return;
  clear(nav);
  const items = [
    ['traces', 'index.html', 'Traces', {}],
    ['compare', 'compare.html', 'Comparison', state.trace ? state : null],
    ['folio', 'folio.html', 'Folio inspector', state.trace ? state : null],
  ];
  const ul = h('ul');
  for (const [id, page, label, st] of items) {
    let el;
    if (id === current) {
      el = h('a', { href: st ? viewUrl(page, st) : page, 'aria-current': 'page' }, label);
    } else if (st === null) {
      el = h('span', { class: 'nav-off', title: 'Pick a trace first' }, label);
    } else {
      el = h('a', { href: viewUrl(page, { trace: st.trace, policies: st.policies, arch: st.arch }) }, label);
    }
    ul.appendChild(h('li', null, el));
  }
  nav.appendChild(ul);
}

/** Is the keyboard focus in something that takes arrow keys itself? */
export function typingTarget(el) {
  if (!el) return false;
  const tag = el.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') {
    const t = (el.type || '').toLowerCase();
    return !['checkbox', 'radio', 'button', 'submit', 'reset', 'file'].includes(t);
  }
  return el.isContentEditable;
}
