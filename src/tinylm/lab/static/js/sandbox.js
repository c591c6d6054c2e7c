// Generation sandbox: next-character probabilities at a temperature, built char by char.
// The logits come from the live model once per prefix; temperature reshapes them here, live.
import {ask, guarded, modelReady, readyRun} from './api.js';
import {drawBars, el, glyph, visible} from './format.js';
import {EMPTY_NAME} from './runner.js';

const $ = (id) => document.getElementById(id);

export function softmax(logits, temperature) {
  const scaled = logits.map((z) => z / temperature);
  const top = Math.max(...scaled);
  const exps = scaled.map((z) => Math.exp(z - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

export class Sandbox {
  constructor(lab) {
    this.lab = lab; this.built = ''; this.logits = null; this.probs = [];
    $('sb-temp').oninput = () => { $('sb-temp-v').textContent = this.temperature().toFixed(2); this.draw(); };
    const clearNames = {onFail: () => $('sb-list').replaceChildren()};
    $('sb-prompt').onchange = guarded(() => this.restart());
    $('sb-resample').onclick = guarded(() => this.restart());
    $('sb-next').onclick = guarded(() => this.sampleNext());
    $('sb-build').onclick = guarded(async () => { for (let i = 0; i < 64 && !this.done; i++) await this.sampleNext(); });
    $('sb-names').onclick = guarded(() => this.names(), clearNames);
    // a paused or finished run holds still: show its next-character odds (only once its model exists)
    const follow = guarded(() => this.refresh(), {panel: 'sandbox'});
    lab.on('event', (m, runner) => {
      if (runner === lab.runner && m.event === 'status' && ['paused', 'finished'].includes(m.state) && modelReady(runner)) follow();
    });
    lab.on('run', () => this.forget());
  }
  temperature() { return Number($('sb-temp').value); }

  // a new run (or none): the old model's odds and names no longer apply
  forget() {
    this.logits = null; this.probs = []; this.built = $('sb-prompt').value; this.done = false;
    $('sb-bars').replaceChildren(); $('sb-list').replaceChildren(); $('sb-built').textContent = '';
    $('sb-empty').hidden = true;
  }

  async runId() {
    if (!this.lab.runner.id) throw new Error('start a run first: the sandbox samples from the runner\'s model');
    return readyRun(this.lab.runner, () => { $('sb-built').textContent = 'waiting for the run to start…'; });
  }
  async restart() { this.built = $('sb-prompt').value; this.done = false; await this.refresh(); }
  async refresh() {
    if (!this.lab.runner.id) return;
    const id = await this.runId();
    if (!id) return;
    let r;
    try { r = await ask(id, {q: 'logits', prefix: this.built}); }
    catch (err) { this.logits = null; $('sb-bars').replaceChildren(); throw err; }   // no stale odds
    if (id !== this.lab.runner.id) return;
    this.labels = r.labels; this.logits = r.logits; this.endLabel = r.end_id === null ? null : r.labels[r.end_id];
    this.order = [...this.logits.keys()].sort((a, b) => this.logits[b] - this.logits[a]);  // fixed by the logits
    this.draw();
  }
  draw() {
    $('sb-built').textContent = visible(this.built) + (this.done ? ' ⏎' : '');
    if (!this.logits) return;
    this.probs = softmax(this.logits, this.temperature());
    const shown = this.order.slice(0, 30);
    drawBars($('sb-bars'), shown.map((i) => [glyph(this.labels[i]), this.probs[i], this.probs[i].toFixed(3)]), 1.0 * Math.max(...this.probs));
  }
  async sampleNext() {
    if (this.done) return;
    if (!this.logits) await this.restart();
    if (!this.logits) return;                    // the run went away meanwhile
    let r = Math.random(), pick = this.order[this.order.length - 1];
    for (const i of this.order) { r -= this.probs[i]; if (r <= 0) { pick = i; break; } }
    if (this.labels[pick] === this.endLabel) { this.done = true; this.draw(); return; }
    this.built += this.labels[pick];
    await this.refresh();
  }
  async names() {
    $('sb-list').replaceChildren(); $('sb-empty').hidden = true;
    const id = await this.runId();
    if (!id) return;
    const r = await ask(id, {q: 'generate', temperature: this.temperature(), count: 15,
                             prompt: $('sb-prompt').value, seed: String(Date.now())});
    // an empty name is shown as "(empty)", and a line under the list says what that means
    const names = r.samples.map((s) => r.prompt + s);
    $('sb-list').replaceChildren(...names.map((n) => (n.trim() ? el('li', {}, n) : el('li', {class: 'empty-name', title: EMPTY_NAME}, '(empty)'))));
    $('sb-empty').hidden = names.every((n) => n.trim());
    this.lab.emit('sandbox-names', {names: r.samples.map((s) => r.prompt + s), temperature: this.temperature()});
  }
}
