// Talking to the lab server: REST commands and one Server-Sent Events stream per run.
const query = new URLSearchParams(location.search);
export const token = query.get('token');

export function url(path) {
  if (!token) return path;
  return path + (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token);
}

async function answer(response) {
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
  return data;
}

export async function getJSON(path) { return answer(await fetch(url(path))); }

export async function postJSON(path, body) {
  return answer(await fetch(url(path), {method: 'POST', headers: {'Content-Type': 'application/json'},
                                        body: JSON.stringify(body)}));
}

export async function postBytes(path, blob) {
  return answer(await fetch(url(path), {method: 'POST', headers: {'Content-Type': 'application/octet-stream'}, body: blob}));
}

export async function del(path) { return answer(await fetch(url(path), {method: 'DELETE'})); }

export const startRun = (request) => postJSON('api/runs', request);
export const command = (id, cmd, n = 1) => postJSON(`api/runs/${id}/command`, {cmd, n});
export const ask = (id, q) => postJSON(`api/runs/${id}/query`, q);
export const resetRun = (id) => del(`api/runs/${id}`).catch(() => null);

// Let go of a run: close its event stream (if any), then remove it on the server (if any).
export async function closeRun(stream, id) {
  if (stream) stream.close();
  if (id) await resetRun(id);
}

// JSON cannot carry NaN/inf: the worker sends them as strings.
export const num = (v) => (typeof v === 'string' ? Number(v) : v);

// Events of one run, in order, each exactly once (a reconnect replays from the last id seen).
export class RunStream {
  constructor(runId, onEvent) {
    this.seen = -1;
    this.source = new EventSource(url(`api/runs/${runId}/events`));
    this.source.onmessage = (e) => {
      const message = JSON.parse(e.data);
      if (message.seq <= this.seen) return;
      this.seen = message.seq;
      onEvent(message);
    };
    this.source.addEventListener('closed', () => this.close());
  }
  close() { this.source.close(); }
}

export function showError(message) {
  const box = document.getElementById('error');
  if (!message) { box.hidden = true; box.textContent = ''; return; }
  box.textContent = message;
  box.hidden = false;
}

// Run an async UI action; a failure becomes the readable error line at the top of the page.
export function guarded(fn) {
  return async (...args) => {
    try { showError(''); return await fn(...args); }
    catch (err) { showError(err.message || String(err)); }
  };
}

// A file input that uploads its first file to `path` (`busyText` in `info` meanwhile), then hands the
// server's answer to `onUploaded(up, file)`. A failure (upload or callback) clears `info` and becomes the
// page's error line; `reset` empties the input afterwards either way, so the same file can be chosen again.
export function uploadOnChange(input, path, info, busyText, onUploaded, {reset = false} = {}) {
  input.onchange = guarded(async () => {
    const file = input.files[0];
    if (!file) return;
    info.textContent = busyText;
    try { await onUploaded(await postBytes(path, file), file); }
    catch (err) { info.textContent = ''; throw err; }
    finally { if (reset) input.value = ''; }
  });
}
