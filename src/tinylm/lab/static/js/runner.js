// The runner: start/pause/resume/step/reset a run at a chosen speed, its readouts, loss chart and samples.
// The page remembers its run (sessionStorage), so a reload reattaches to it and replays its history.
import {RunStream, closeRun, command, getJSON, guarded, num, showError, startRun} from './api.js';
import {LossChart} from './chart.js';
import {el, fmt, seconds, sci} from './format.js';

const $ = (id) => document.getElementById(id);
export const SMOOTH = 50;                 // the live train NLL and the chart's train line: mean of the last 50 steps
export const DEFAULT_SPEED = 10;          // 20 steps/s: the first few hundred steps of a run can be followed
const REMEMBER = 'tinylm.runner.run';     // sessionStorage: the run this tab's runner shows
export const HIDDEN_PAUSE = 'tinylm.runner.hidden-pause';   // ... and the run paused only because the tab hid
const RATE_WINDOW = 50;                   // iters/s: over the last 50 steps of running time
// the chart's y range stops at this many times where the run started (max of ln V and the first loss): a healthy
// run never goes above its start, and a blow-up to 1e6 would flatten everything else; what goes higher is
// clipped and marked ↑ at the top edge with the value it reached
const Y_CAP = 2;
// why a name sample can be empty: the model's first pick was the end-of-name marker (said wherever one is shown)
export const EMPTY_NAME = 'an empty name: the model ended the name at once (its first pick was the end-of-name marker)';
const lossText = (v) => (Math.abs(v) >= 1e4 ? v.toExponential(2).replace('e+', 'e') : v.toFixed(3));

/** Steps per second a speed stands for (the worker's pace: protocol.steps_per_second); null = unthrottled. */
export const stepsPerSecond = (speed) => (speed >= 100 ? null : 2 * speed);
const speedText = (speed) => (speed >= 100 ? '100× · full speed' : `${speed}× · ≤ ${stepsPerSecond(speed)} steps/s`);

const NOT_TYPED = new Set(['button', 'checkbox', 'radio', 'range', 'reset', 'submit', 'file', 'color', 'image']);
const typing = (t) => t instanceof Element && (t.matches('textarea, select, [contenteditable=""], [contenteditable="true"]') ||
  (t instanceof HTMLInputElement && !NOT_TYPED.has(t.type)));

const STATE_TEXT = {queued: 'queued', waiting: 'waiting for a free slot', starting: 'starting…'};

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
    $('speed').value = DEFAULT_SPEED;
    $('speed').oninput = () => this.speedChanged();
    $('speed-v').textContent = speedText(this.speed());
    document.addEventListener('keydown', (e) => this.onKey(e));
    this.buttons();
  }

  clearState() {
    this.state = 'idle'; this.iter = 0; this.steps = 0; this.losses = []; this.iters = []; this.evals = [];
    this.samples = []; this.start_event = null; this.hash = null; this.diagnosis = null; this.peakLr = 0;
    this.smoothed = null; this.initial = null; this.message = ''; this.reason = ''; this.phase = null;
    this.recent = []; this.clock = []; this.diverged = false;
  }

  speed() { return Number($('speed').value); }

  request() {
    const request = {data: $('data').value, upload: this.lab.textUpload || '', preset: $('preset').value,
                     engine: $('engine').value, seed: $('seed').value, steps: Number($('steps').value),
                     sample_every: Number($('sample-every').value), speed: this.speed()};
    const lr = $('lr').value.trim();         // blank: the preset's own learning rate
    if (lr) request.lr = Number(lr);
    return request;
  }

  async start(request = null) {
    await this.reset();
    const {id} = await startRun({speed: this.speed(), ...(request || this.request())});
    this.attach(id);
  }

  attach(id) {
    this.id = id;
    sessionStorage.setItem(REMEMBER, id);
    this.stream = new RunStream(id, (m) => this.onEvent(m));
    this.lab.emit('run', id);
    this.buttons();
  }

  /** After a reload: show the run this tab started again (its stream replays everything so far). */
  async reattach() {
    const id = sessionStorage.getItem(REMEMBER);
    if (!id || this.id) return false;
    const {runs} = await getJSON('api/runs');       // the list, not GET /runs/{id}: a gone run is no 404
    const run = runs.find((r) => r.id === id);
    if (!run) { sessionStorage.removeItem(REMEMBER); return false; }
    const r = run.request;
    if (!r.resume && !r.pathology) {
      for (const [field, value] of [['data', r.data], ['preset', r.preset], ['engine', r.engine], ['seed', r.seed],
        ['sample-every', r.sample_every]]) $(field).value = value;
      if (r.steps) $('steps').value = r.steps;
      $('lr').value = r.lr ?? '';
      if (r.data === 'upload') this.lab.textUpload = r.upload;
    }
    $('speed').value = run.speed; $('speed-v').textContent = speedText(run.speed);
    this.attach(id);
    // a reload hides the old page first, and a hidden tab pauses its run: that pause was not the learner's
    if (sessionStorage.getItem(HIDDEN_PAUSE) === id) {
      sessionStorage.removeItem(HIDDEN_PAUSE);
      if (!['finished', 'error'].includes(run.state)) await command(id, 'resume');
    }
    return true;
  }

  async reset() {
    sessionStorage.removeItem(REMEMBER);
    await closeRun(this.stream, this.id);
    this.id = null; this.stream = null;
    this.clearState();
    this.chart.clear();
    $('sample-list').replaceChildren(); $('sample-key').textContent = 'newest first';
    for (const k of ['iter', 'ips', 'elapsed', 'lr', 'train-live', 'train', 'val', 'ppl', 'phase']) $('r-' + k).textContent = '–';
    $('improved').textContent = ''; $('notice').textContent = ''; $('notice').className = 'muted';
    $('diagnosis').textContent = ''; $('diagnosis').dataset.kind = '';
    this.lab.emit('run', null);
    this.buttons();
  }

  async send(cmd, n = 1) {
    if (!this.id) return;
    if (cmd === 'pause') { this.lab.autoPaused = false; sessionStorage.removeItem(HIDDEN_PAUSE); }
    const {state} = await command(this.id, cmd, n);
    if (state === 'waiting' && this.state !== 'waiting') { this.state = state; this.buttons(); }
  }

  speedChanged() {
    const speed = this.speed();
    $('speed-v').textContent = speedText(speed);
    clearTimeout(this.speedTimer);          // a dragged slider sends its last value, not every pixel
    this.speedTimer = setTimeout(guarded(async () => {
      if (this.id && !['finished', 'error'].includes(this.state)) await command(this.id, 'speed', speed);
    }, {panel: 'runner'}), 120);
  }

  // Space plays and pauses, as in a video player, wherever the focus is (a button or the speed slider
  // just used) except where a space is typed; Enter still presses a focused button.
  onKey(e) {
    if (e.code !== 'Space' || e.repeat || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    e.preventDefault();
    guarded(() => this.toggle(), {panel: 'runner'})();
  }

  async toggle() {
    const s = this.state;
    if (!this.id) return this.start();
    if (s === 'paused') return this.send('resume');
    if (['running', 'starting', 'waiting', 'queued'].includes(s)) return this.send('pause');
    return null;                            // finished or failed: Start begins a new run
  }

  buttons() {
    const s = this.state, has = !!this.id;
    $('pause').disabled = !(has && ['running', 'starting', 'waiting', 'queued'].includes(s));
    $('resume').disabled = !(has && s === 'paused');
    $('step').disabled = !(has && ['paused', 'running', 'waiting'].includes(s));
    $('reset').disabled = !has;
    const pill = $('run-state');
    pill.textContent = STATE_TEXT[s] || s;
    pill.className = 'pill ' + s;
    // never "running…" without saying why nothing moves: where it stands in line, or what it is doing
    const wait = $('run-wait');
    wait.textContent = ['queued', 'waiting'].includes(s) ? this.reason || 'waiting for a free training slot' :
      s === 'starting' ? 'starting the training worker: loading the data and measuring the initial loss' : '';
  }

  onEvent(m) {
    switch (m.event) {
      case 'status':
        this.state = m.state; this.reason = m.reason || '';
        if (m.iter !== undefined && m.state !== 'queued') this.iter = Math.max(this.iter, m.iter);
        this.buttons(); this.readIter(); break;
      case 'start': this.onStart(m); break;
      case 'step': this.onStep(m); break;
      case 'eval': this.onEval(m); break;
      case 'sample': this.onSample(m); this.showPhase(m.iter, m.phase); break;
      case 'phase': this.showPhase(m.iter, m.phase); break;
      case 'finished':
        this.message = m.message || '';
        if (m.reason === 'diverged') { this.diverged = true; this.showDivergedNote(); this.readImproved(); }
        break;
      case 'hash': this.hash = m.hash; break;
      case 'teacher': $('notice').textContent = m.text; $('notice').className = 'teacher-note'; break;   // classroom mode
      case 'diagnosis': this.onDiagnosis(m); break;
      case 'error': this.state = 'error'; this.message = m.message; showError(m.message, 'runner'); this.buttons(); break;
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
    this.chart.setSeries('train', [], {color: '#2563eb', width: 2, legend: `train (mean of last ${SMOOTH} steps)`});
    this.chart.setSeries('val', [], {color: '#ea580c', width: 2, dots: true, legend: 'val'});
    // the engine's word at the start (the numpy engine compiling its kernels, once per install: a pause before
    // the first step that would otherwise look like a hang); cleared by the first step
    this.startNote = m.note || '';
    const resumed = m.start_iter ? `resumed from a checkpoint at iter ${m.start_iter}` : '';
    if (resumed || this.startNote) $('notice').textContent = [resumed, this.startNote].filter(Boolean).join(' · ');
    $('sample-key').replaceChildren(...(m.data_kind === 'documents' ? ['newest first · names the model made up'] :
      ['newest first · ', el('span', {class: 'prompt'}, 'prompt'), ' then what the model wrote']));
    this.readIter();
  }

  onStep(m) {
    if (this.startNote) {
      this.startNote = '';
      $('notice').textContent = this.start_event.start_iter ? `resumed from a checkpoint at iter ${this.start_event.start_iter}` : '';
    }
    const loss = num(m.loss);
    this.iter = m.iter; this.losses.push(loss); this.iters.push(m.iter);
    if (this.initial === null && Number.isFinite(loss)) this.setInitial(loss);
    // a trailing mean: one name (or one batch) per step is noisy, the last SMOOTH steps are not
    this.recent.push([m.iter, loss]);
    if (this.recent.length > SMOOTH) this.recent.shift();
    this.smoothed = this.recent.reduce((sum, [, l]) => sum + l, 0) / this.recent.length;
    this.chart.addPoint('raw', m.iter, loss);
    // drawn at the middle of its window, so the line does not trail the raw losses (and the val points)
    this.chart.addPoint('train', (this.recent[0][0] + m.iter) / 2, this.smoothed);
    $('r-train-live').textContent = fmt(this.smoothed);
    this.readRate(m);
    const lr = num(m.lr), decayed = this.peakLr ? 100 * (1 - lr / this.peakLr) : 0;
    $('r-lr').textContent = `${sci(lr)} (${decayed.toFixed(0)}% decayed)`;
    this.readIter();
    this.readImproved();
  }

  setInitial(loss) {
    this.initial = loss;
    if (this.start_event) this.chart.setYCap(Y_CAP * Math.max(this.start_event.entropies.uniform, loss));
  }

  // the line under the chart: how far the smoothed loss came from the start. A percentage only means something
  // for a loss that fell; a loss that rose, blew up or stopped being a number is said so in words
  readImproved() {
    const l0 = this.initial, now = this.smoothed;
    if (l0 === null || now === null) return;
    const span = `mean of the last ${this.recent.length} steps`;
    let text;
    if (!Number.isFinite(now)) {
      text = `the loss blew up: it became ${Number.isNaN(now) ? 'NaN (not a number)' : 'infinite'} (it started at ${l0.toFixed(3)})`;
    } else if (this.diverged) {
      text = `the loss blew up: ${l0.toFixed(3)} → ${lossText(now)} (${span}), and the run stopped`;
    } else if (now > l0) {
      text = `no improvement: the loss is above its initial value (${l0.toFixed(3)} → ${lossText(now)}, ${span})`;
    } else {
      const pct = 100 * (l0 - now) / l0;
      text = `loss improved ${pct.toFixed(1)}% from the initial value (${l0.toFixed(3)} → ${now.toFixed(3)}, ${span})`;
    }
    $('improved').textContent = text;
  }

  // a diverged run's finished message repeats the doctor's verdict, already shown in #diagnosis; say only
  // what the finish adds to it (whether a checkpoint was kept), so the verdict appears once
  showDivergedNote() {
    const verdict = this.diagnosis && this.diagnosis.kind === 'diverged' ? this.diagnosis.message : '';
    if (!verdict) {                         // no verdict on show (it never came): the message is the news
      $('diagnosis').textContent = this.message; $('diagnosis').dataset.kind = 'diverged';
      return;
    }
    const extra = this.message.startsWith(verdict) ? this.message.slice(verdict.length).replace(/^[.\s]+/, '') : '';
    if (extra) { $('notice').textContent = extra; $('notice').className = 'muted'; }
  }

  // iters/s as the learner sees them (paced, with evals and samples), from the worker's run clock;
  // the compute-only rate goes in the tooltip
  readRate(m) {
    const wall = m.wall ?? num(m.elapsed);
    this.clock.push([m.iter, wall]);
    if (this.clock.length > RATE_WINDOW) this.clock.shift();
    const [i0, w0] = this.clock[0];
    const rate = wall > w0 ? (m.iter - i0) / (wall - w0) : num(m.iters_per_s);
    $('r-ips').textContent = fmt(rate, 1);
    $('r-ips').title = `training alone: ${fmt(num(m.iters_per_s), 0)} iters/s`;
    $('r-elapsed').textContent = seconds(wall);
  }

  onEval(m) {
    const tl = num(m.train_loss), vl = num(m.val_loss);
    this.evals.push([m.iter, tl, vl]);
    if (m.iter === 0 && Number.isFinite(tl)) this.setInitial(tl);
    this.chart.addPoint('val', m.iter, vl);
    $('r-train').textContent = fmt(tl); $('r-val').textContent = fmt(vl);
    const ppl = Math.exp(vl);               // a blown-up run's is astronomical: 2.7e63, not 22 digits
    $('r-ppl').textContent = ppl < 1e4 ? fmt(ppl, 2) : sci(ppl);
    for (const k of ['train', 'val']) $('r-' + k).title = `measured at iter ${m.iter}`;
  }

  // the phase readout follows the newest phase or sample event, whichever is later
  showPhase(iter, phase) {
    if (this.phase && iter < this.phase.iter) return;
    this.phase = {iter, phase};
    $('r-phase').textContent = phase;
    $('r-phase').title = `decided at iter ${iter}`;
  }

  onSample(m) {
    this.samples.push(m);
    const names = this.start_event ? this.start_event.data_kind === 'documents' : !m.prompt;
    const body = names ?
      el('ul', {class: 'sample-names'}, ...m.samples.map((s) => (s.trim() ? el('li', {}, s) :
        el('li', {class: 'empty-name', title: EMPTY_NAME}, '(empty)')))) :
      el('div', {class: 'sample-texts'}, ...m.samples.map((s) => el('div', {class: 'sample-text'},
        el('span', {class: 'prompt', title: 'the prompt: the start of the validation text'}, m.prompt),
        el('span', {class: 'continuation', title: 'what the model wrote'}, s))));
    $('sample-list').prepend(el('li', {'data-iter': m.iter, class: 'sample'},
      el('span', {class: 'stamp'}, `iter ${m.iter} · ${m.phase}`), body));
  }

  onDiagnosis(m) {
    this.diagnosis = m;
    const kind = m.kind || m.name || '';
    $('diagnosis').textContent = m.message;
    $('diagnosis').dataset.kind = kind;
    if (kind === 'diverged') { this.diverged = true; this.readImproved(); }
  }

  readIter() { $('r-iter').textContent = this.steps ? `${this.iter} / ${this.steps}` : String(this.iter); }
}
