// SPDX-License-Identifier: MIT
// api.js - the mapcountd JSON API, as the pages use it.

/** An error answer of mapcountd: {"error": ..., "detail": ...}, verbatim. */
export class ApiError extends Error {
  constructor(status, error, detail) {
    super(detail ? `${error}: ${detail}` : error);
    this.name = 'ApiError';
    this.status = status;
    this.error = error;
    this.detail = detail;
  }
}

/**
 * JSON.parse keeping integers beyond 2^53 exact (as BigInt): the counter
 * limits are 2^63 - 1.  Uses the reviver's source text where the browser
 * has it; elsewhere a plain parse.
 */
export function parseJSON(text) {
  return JSON.parse(text, (key, value, context) => {
    if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value) &&
        context && typeof context.source === 'string' && /^-?\d+$/.test(context.source)) {
      return BigInt(context.source);
    }
    return value;
  });
}

async function errorOf(res) {
  let body = null;
  const text = await res.text().catch(() => '');
  try {
    body = parseJSON(text);
  } catch {
    body = null;
  }
  if (body && typeof body === 'object' && typeof body.error === 'string') {
    return new ApiError(res.status, body.error,
      typeof body.detail === 'string' ? body.detail : null);
  }
  return new ApiError(res.status, `HTTP ${res.status} ${res.statusText}`.trim(),
    text.trim() || null);
}

/** GET or POST JSON.  Resolves {status, body}; rejects with ApiError. */
export async function request(method, url, body, { signal } = {}) {
  const init = { method, headers: { Accept: 'application/json' }, signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'mapcountd is not reachable', String(e.message || e));
  }
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  return { status: res.status, body: text ? parseJSON(text) : null, headers: res.headers };
}

export const getJSON = (url, opts) => request('GET', url, undefined, opts);
export const postJSON = (url, body, opts) => request('POST', url, body, opts);

const q = encodeURIComponent;

export const api = {
  traces: (limit = 100, offset = 0) =>
    getJSON(`/api/traces?limit=${limit}&offset=${offset}`).then((r) => r.body),
  trace: (id) => getJSON(`/api/traces/${q(id)}`).then((r) => r.body),
  policies: () => getJSON('/api/policies').then((r) => r.body),
  replay: (id, opts) => getJSON(`/api/replays/${q(id)}`, opts).then((r) => r.body),
  startReplay: (trace, policies, arch) =>
    postJSON(`/api/traces/${q(trace)}/replays`, { policies, arch }).then((r) => r.body),
  comparison: (trace, policies, arch, opts) =>
    getJSON(`/api/traces/${q(trace)}/comparison?policies=${q(policies.join(','))}` +
      `&arch=${q(arch)}`, opts),
  folios: (trace, policies, arch, limit, opts) =>
    getJSON(`/api/traces/${q(trace)}/folios?sort=disagreement&limit=${q(limit)}` +
      `&policies=${q(policies.join(','))}&arch=${q(arch)}`, opts),
  history: (trace, folio, policies, arch, opts) =>
    getJSON(`/api/traces/${q(trace)}/folios/${q(folio)}/history` +
      `?policies=${q(policies.join(','))}&arch=${q(arch)}`, opts),
};

/** The replay id of a 202 answer, whatever the server calls it. */
export function replayIdOf(body, headers) {
  if (body && typeof body === 'object') {
    for (const k of ['replay_id', 'replay', 'id']) {
      const v = body[k];
      if (typeof v === 'number' || typeof v === 'string') return v;
      if (v && typeof v === 'object' && v.id !== undefined) return v.id;
    }
  }
  const loc = headers && headers.get && headers.get('Location');
  const m = loc && /\/api\/replays\/([^/?#]+)/.exec(loc);
  return m ? decodeURIComponent(m[1]) : null;
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  if (signal) {
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new DOMException('aborted', 'AbortError'));
    }, { once: true });
  }
});

/**
 * Poll GET /api/replays/{id} until it is done; onProgress(done, total,
 * status) after each answer.  Resolves the replay's result; rejects with
 * an ApiError when it failed.
 */
export async function waitReplay(id, onProgress, { signal } = {}) {
  let delay = 150;
  for (;;) {
    const r = await api.replay(id, { signal });
    const p = r.progress || {};
    const done = p.events_done ?? r.events_done ?? 0;
    const total = p.events_total ?? r.events_total ?? 0;
    if (onProgress) onProgress(done, total, r.status);
    if (r.status === 'done') return r.result;
    if (r.status === 'failed') {
      throw new ApiError(500, 'replay failed', r.error || r.detail || null);
    }
    await sleep(delay, signal);
    delay = Math.min(1000, Math.round(delay * 1.5));
  }
}

/**
 * A resource that may answer 202 and a replay id (comparison, folios,
 * history): the document, waiting for the replay when needed.
 */
export async function resolveDeferred(promise, onProgress, opts) {
  const r = await promise;
  if (r.status !== 202) return r.body;
  const id = replayIdOf(r.body, r.headers);
  if (id === null) throw new ApiError(202, 'no replay id in the 202 answer', JSON.stringify(r.body));
  return waitReplay(id, onProgress, opts);
}

/**
 * Upload a file as multipart/form-data with XMLHttpRequest (for its
 * upload progress).  onProgress(loaded, total) while sending; onSent()
 * once the body is sent and the server validates and stores it.
 * Resolves {status, body}; rejects with ApiError (the server's message).
 */
export function uploadTrace(file, name, { onProgress, onSent } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const url = name ? `/api/traces?name=${q(name)}` : '/api/traces';
    xhr.open('POST', url);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (onProgress) onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    });
    xhr.upload.addEventListener('load', () => {
      if (onSent) onSent();
    });
    xhr.addEventListener('load', () => {
      let body = null;
      try {
        body = parseJSON(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({ status: xhr.status, body });
      } else if (body && typeof body.error === 'string') {
        reject(new ApiError(xhr.status, body.error,
          typeof body.detail === 'string' ? body.detail : null));
      } else {
        reject(new ApiError(xhr.status, `HTTP ${xhr.status} ${xhr.statusText}`.trim(),
          xhr.responseText.trim() || null));
      }
    });
    xhr.addEventListener('error', () => {
      reject(new ApiError(0, 'upload failed: the connection to mapcountd was lost', null));
    });
    xhr.addEventListener('abort', () => {
      reject(new ApiError(0, 'upload cancelled', null));
    });
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}
