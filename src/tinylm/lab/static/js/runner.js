// The runner: start/pause/resume/step/reset a run, its readouts, its loss chart and its samples.
import {RunStream, closeRun, command, guarded, num, showError, startRun} from './api.js';
import {LossChart} from './chart.js';
import {el, fmt, seconds, sci, visible} from './format.js';

const $ = (id) => document.getElementById(id);

export class Runner {
  constructor(lab) {
    this.lab = lab;
    this.chart = new LossChart($('loss-chart'));
    this.id = null; this.stream = null;
    this.clearState();
    $('start').onclick = guarded(() => this.start());
    $('pause').onclick = guarded(() => this.send('pause'));
    $('resume').onclick = guarded(() => this.send('resume'));
    $('step').onclick = guarded(() => this.send('step'));
    $('reset').onclick = guarded(() => this.reset());
    this.buttons();
  }

  clearState() {
    this.state = 'idle'; this.iter = 0; this.steps = 0; this.losses = []; this.iters = []; this.evals = [];
    this.samples = []; this.start_event = null; this.hash = null; this.diagnosis = null; this.peakLr = 0;
    this.smoothed = null; this.initial = null; this.message = '';
  }

  request() {
    return {data: $('data').value, upload: this.lab.textUpload || '', preset: $('preset').value,
            engine: $('engine').value, seed: $('seed').value, steps: Number($('steps').value),
            sample_every: Number($('sample-every').value)};
  }

  async start(request = null) {
    await this.reset();
    const {id} = await startRun(request || this.request());
    this.attach(id);
  }

  attach(id) {
    this.id = id;
    this.stream = new RunStream(id, (m) => this.onEvent(m));
    this.lab.emit('run', id);
    this.buttons();
  }

  async reset() {
    await closeRun(this.stream, this.id);
    this.id = null; this.stream = null;
    this.clearState();
    this.chart.clear();
    $('sample-list').replaceChildren();
    for (const k of ['iter', 'ips', 'elapsed', 'lr', 'train', 'val', 'ppl', 'phase']) $('r-' + k).textContent = '–';
    $('improved').textContent = ''; $('notice').textContent = '';
    this.lab.emit('run', null);
    this.buttons();
  }

  async send(cmd, n = 1) {
    if (!this.id) return;
    if (cmd === 'pause') this.lab.autoPaused = false;
    await command(this.id, cmd, n);
  }

  buttons() {
    const s = this.state, has = !!this.id;
    $('pause').disabled = !(has && s === 'running');
    $('resume').disabled = !(has && s === 'paused');
    $('step').disabled = !(has && (s === 'paused' || s === 'running'));
    $('reset').disabled = !has;
    const pill = $('run-state');
    pill.textContent = s === 'queued' ? 'queued (waiting for a free slot)' : s;
    pill.className = 'pill ' + s;
  }

  onEvent(m) {
    switch (m.event) {
      case 'status':
        this.state = m.state; if (m.iter !== undefined && m.state !== 'queued') this.iter = Math.max(this.iter, m.iter);
        this.buttons(); this.readIter(); break;
      case 'start': this.onStart(m); break;
      case 'step': this.onStep(m); break;
      case 'eval': this.onEval(m); break;
      case 'sample': this.onSample(m); break;
      case 'phase': $('r-phase').textContent = m.phase; break;
      case 'finished':
        this.message = m.message || '';
        if (m.reason === 'diverged') { $('notice').textContent = m.message; $('notice').className = 'error'; }
        break;
      case 'hash': this.hash = m.hash; break;
      case 'diagnosis': this.diagnosis = m; if (m.name !== 'healthy') $('notice').textContent = m.message; break;
      case 'error': this.state = 'error'; this.message = m.message; showError(m.message); this.buttons(); break;
    }
    this.lab.emit('event', m, this);
  }

  onStart(m) {
    this.start_event = m; this.steps = m.steps; this.iter = m.start_iter;
    this.peakLr = m.config.train.optim.lr;
    const e = m.entropies;
    this.chart.setXMax(m.steps);
    this.chart.setRefs([
      {y: e.uniform, label: `ln V = ${e.uniform.toFixed(2)} (uniform)`, color: '#6b7280'},
      {y: e.unigram, label: `unigram ${e.unigram.toFixed(2)}`, color: '#a16207', dash: [2, 3]},
      {y: e.bigram, label: `bigram ${e.bigram.toFixed(2)}`, color: '#7c3aed', dash: [2, 3]},
    ]);
    this.chart.setSeries('raw', [], {color: '#93c5fd', width: 1, alpha: 0.6});
    this.chart.setSeries('train', [], {color: '#2563eb', width: 2, legend: 'train (smoothed)'});
    this.chart.setSeries('val', [], {color: '#ea580c', width: 2, dots: true, legend: 'val'});
    if (m.start_iter) $('notice').textContent = `resumed from a checkpoint at iter ${m.start_iter}`;
    this.readIter();
  }

  onStep(m) {
    const loss = num(m.loss);
    this.iter = m.iter; this.losses.push(loss); this.iters.push(m.iter);
    if (this.initial === null && Number.isFinite(loss)) this.initial = loss;
    if (Number.isFinite(loss)) this.smoothed = this.smoothed === null ? loss : this.smoothed + 0.05 * (loss - this.smoothed);
    this.chart.addPoint('raw', m.iter, loss);
    this.chart.addPoint('train', m.iter, Number.isFinite(loss) ? this.smoothed : loss);
    $('r-ips').textContent = fmt(num(m.iters_per_s), 1);
    $('r-elapsed').textContent = seconds(num(m.elapsed));
    const lr = num(m.lr), decayed = this.peakLr ? 100 * (1 - lr / this.peakLr) : 0;
    $('r-lr').textContent = `${sci(lr)} (${decayed.toFixed(0)}% decayed)`;
    this.readIter();
    if (this.initial !== null && this.smoothed !== null) {
      const pct = 100 * (this.initial - this.smoothed) / this.initial;
      $('improved').textContent = `loss improved ${pct.toFixed(1)}% from the initial value (${this.initial.toFixed(3)} → ${this.smoothed.toFixed(3)}, smoothed)`;
    }
  }

  onEval(m) {
    const tl = num(m.train_loss), vl = num(m.val_loss);
    this.evals.push([m.iter, tl, vl]);
    if (m.iter === 0 && Number.isFinite(tl)) this.initial = tl;
    this.chart.addPoint('val', m.iter, vl);
    $('r-train').textContent = fmt(tl); $('r-val').textContent = fmt(vl);
    $('r-ppl').textContent = fmt(Math.exp(vl), 2);
  }

  onSample(m) {
    this.samples.push(m);
    const text = m.samples.map((s) => visible(m.prompt + s)).join('\n');
    $('sample-list').prepend(el('li', {'data-iter': m.iter},
      el('span', {class: 'stamp'}, `iter ${m.iter} · ${m.phase}`), text));
  }

  readIter() { $('r-iter').textContent = this.steps ? `${this.iter} / ${this.steps}` : String(this.iter); }
}
