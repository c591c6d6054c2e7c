// One training cycle, step by step: the current name, forward -> loss -> backward -> update, each phase
// highlighted in turn with what the live model actually computed for that step (worker-side detail).
import {RunStream, closeRun, command, guarded, num, startRun} from './api.js';
import {drawBars, el, glyph, sci, visible} from './format.js';

const $ = (id) => document.getElementById(id);
const PHASES = ['forward', 'loss', 'backward', 'update'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Cycle {
  constructor(lab) {
    this.lab = lab; this.id = null; this.playing = false; this.waiter = null; this.details = [];
    $('cycle-prepare').onclick = guarded(() => this.prepare(), {onFail: () => this.clearView()});
    $('cycle-play').onclick = guarded(() => (this.playing ? this.stop() : this.play()));
    $('cycle-next').onclick = guarded(() => this.next());
    $('cycle-speed').oninput = () => { $('cycle-speed-v').textContent = `${this.speed()}×`; };
  }
  speed() { return Number($('cycle-speed').value); }

  // the previous run's step is no longer the one shown
  clearView() {
    $('cycle-iter').textContent = 'iter –'; $('cycle-doc').textContent = '–'; $('cycle-loss').textContent = '–';
    $('cycle-table').tBodies[0].replaceChildren(); $('cycle-table').classList.remove('lit-loss');
    $('cycle-grads').replaceChildren(); $('cycle-update').replaceChildren();
    for (const span of document.querySelectorAll('.phases span')) span.classList.remove('on');
    this.lab.emit('cycle-phase', null);
    $('cycle-play').disabled = true; $('cycle-next').disabled = true;
  }

  async prepare() {
    this.stop();
    await closeRun(this.stream, this.id);
    this.id = null; this.stream = null;
    this.details = []; this.finished = false;
    this.clearView();
    const {id} = await startRun({preset: 'microgpt', data: 'names', engine: 'numpy', seed: $('seed').value || 'lab',
                                 steps: 1000, sample_every: 0, paused: true, detail: true, label: 'cycle'});
    this.id = id;
    this.stream = new RunStream(id, (m) => {
      if (m.event === 'detail') { this.details.push(m); if (this.waiter) { this.waiter(m); this.waiter = null; } }
      if (m.event === 'finished') { this.finished = true; if (this.waiter) { this.waiter(null); this.waiter = null; } }
      if (m.event === 'status' && m.state !== 'queued') { $('cycle-play').disabled = false; $('cycle-next').disabled = false; }
    });
    $('cycle-iter').textContent = 'iter 0';
  }

  async step() {
    if (!this.id || this.finished) return null;
    const arrived = new Promise((resolve) => { this.waiter = resolve; });
    await command(this.id, 'step', 1);
    const detail = await arrived;
    if (detail) await this.animate(detail);
    return detail;
  }

  async next() { if (!this.playing) await this.step(); }

  async play() {
    this.playing = true; $('cycle-play').textContent = 'Pause';
    const target = Math.min(1000, Math.max(1, Number($('cycle-target').value)));
    while (this.playing) {
      const last = this.details[this.details.length - 1];
      if (last && last.iter >= target) break;
      if (!(await this.step())) break;
    }
    this.stop();
  }

  stop() { this.playing = false; $('cycle-play').textContent = 'Play'; }

  async animate(d) {
    const ms = 700 / this.speed();
    $('cycle-iter').textContent = `iter ${d.iter}`;
    $('cycle-doc').textContent = visible(d.document);
    for (const phase of PHASES) {
      for (const span of document.querySelectorAll('.phases span')) span.classList.toggle('on', span.dataset.phase === phase);
      this.render(d, phase);
      this.lab.emit('cycle-phase', phase, d);
      await sleep(ms);
    }
  }

  render(d, phase) {
    const table = $('cycle-table');
    if (phase === 'forward') {
      $('cycle-loss').textContent = '…';
      table.classList.remove('lit-loss');
      table.tBodies[0].replaceChildren(...d.positions.map((p) => el('tr', {},
        el('td', {}, visible(p.prefix) || '·'),
        el('td', {}, p.top.map(([c, q]) => `${glyph(c)} ${q.toFixed(2)}`).join('  ')),
        el('td', {class: p.top[0][0] === p.target ? 'hit' : ''}, glyph(p.target)),
        el('td', {}, p.p_target.toFixed(3)), el('td', {}, p.loss.toFixed(3)))));
      $('cycle-grads').replaceChildren(); $('cycle-update').replaceChildren();
    } else if (phase === 'loss') {
      table.classList.add('lit-loss');
      $('cycle-loss').textContent = `${num(d.loss).toFixed(4)} (mean of −log p over ${d.positions.length} positions)`;
    } else if (phase === 'backward') {
      const rows = Object.entries(d.grad_norms).sort((a, b) => b[1] - a[1]);
      drawBars($('cycle-grads'), rows.map(([g, v]) => [g, v, sci(v)]));
    } else {
      const x = d.example;
      const lines = [`${d.optimizer} step t=${d.t}, lr ${sci(d.lr)}`];
      if (x.m !== undefined) {
        lines.push(`${x.param}[${x.index.join(',')}]: g ${sci(x.grad)} → m ${sci(x.m)}, v ${sci(x.v)}`,
          `m̂ = m/(1−β1^t) ${sci(x.m_hat)}, v̂ = v/(1−β2^t) ${sci(x.v_hat)}`,
          `Δ = −lr·m̂/(√v̂+ε) = ${sci(x.delta)}`);
      } else lines.push(`${x.param}[${x.index.join(',')}]: g ${sci(x.grad)}, Δ ${sci(x.delta)}`);
      $('cycle-update').replaceChildren(...lines.map((t) => el('div', {}, t)), el('h3', {}, '|Δ| per group'), el('div', {class: 'bars', id: 'cycle-upd-bars'}));
      drawBars($('cycle-upd-bars'), Object.entries(d.update_norms).map(([g, v]) => [g, v, sci(v)]));
    }
  }
}
