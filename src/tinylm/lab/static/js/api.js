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

// Errors are shown where they happened: in the panel (a <section>, or one pathology card) whose control
// caused them, on an error line under that control's row. Errors with no panel (the connection, a hidden
// tab) use the banner at the top of the page.
const errorLines = new WeakMap();      // panel element -> its error line

export const panelOf = (node) => (node instanceof Element ? node.closest('.break, section') : null);

function errorLine(panel, near) {
  let line = errorLines.get(panel);
  if (!line) {
    line = document.createElement('div');
    line.className = 'panel-error'; line.setAttribute('role', 'alert'); line.hidden = true;
    errorLines.set(panel, line);
  }
  const row = near instanceof Element ? near.closest('.controls') : null;
  const anchor = row && panel.contains(row) ? row : panel.querySelector('h2, h3');
  if (anchor) anchor.after(line); else panel.prepend(line);
  return line;
}

/** Show `message` (or hide the error when it is empty) in `where`'s panel, or in the top banner. */
export function showError(message, where = null) {
  const panel = typeof where === 'string' ? document.getElementById(where) : panelOf(where);
  const box = panel ? errorLine(panel, where) : document.getElementById('error');
  if (!message) { box.hidden = true; box.textContent = ''; return; }
  box.textContent = message;
  box.hidden = false;
}

/** Hide the error line of `where`'s panel (if it has one) without creating it. */
export function clearError(where) {
  const panel = typeof where === 'string' ? document.getElementById(where) : panelOf(where);
  const line = panel && errorLines.get(panel);
  if (line) { line.hidden = true; line.textContent = ''; }
}

// Run an async UI action. Its panel is the one holding the control that fired it (or `panel`: an element
// or id, for actions started by the page itself); the panel's old error is cleared when the action starts,
// `onFail` clears its stale results, and a failure becomes the readable error line in that panel.
export function guarded(fn, {panel = null, onFail = null} = {}) {
  return async (...args) => {
    const event = args[0];
    const trigger = panel ?? (event && event.currentTarget instanceof Element ? event.currentTarget : null);
    try {
      clearError(trigger); showError('');
      return await fn(...args);
    } catch (err) {
      if (onFail) onFail(err);
      showError(err.message || String(err), trigger);
    }
  };
}

const NOT_YET = new Set(['idle', 'queued', 'starting']);

/** A run can answer queries (logits, inspect, ...) once its worker has sent its start event. */
export function modelReady(runner) {
  return !!runner.id && !!runner.start_event && !NOT_YET.has(runner.state) && runner.state !== 'error';
}

/** The runner's run id once its model can answer queries: waits (calling `waiting` meanwhile) while the
 * run is queued or starting. Null when the run is reset or replaced meanwhile; an error if it failed. */
export async function readyRun(runner, waiting = () => {}) {
  const id = runner.id;
  while (runner.id === id && !modelReady(runner)) {
    if (runner.state === 'error') throw new Error(`the run stopped with an error: ${runner.message || 'see above'}`);
    waiting(runner.state);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return runner.id === id ? id : null;
}

// A file input that uploads its first file to `path` (`busyText` in `info` meanwhile), then hands the
// server's answer to `onUploaded(up, file)`. A failure (upload or callback) clears `info` and becomes the
// error line of the input's panel; `reset` empties the input afterwards either way, so the same file can be
// chosen again.
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
