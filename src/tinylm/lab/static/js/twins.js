// Twin seeds: two runs side by side. Same seed -> identical curves and weight hashes;
// a one-character change of seed -> the curves part; the page shows the iter where they do.
import {RunStream, closeRun, guarded, num, startRun} from './api.js';
import {LossChart} from './chart.js';
import {SMOOTH} from './runner.js';

// one name per step makes both curves jump by nats: each twin also gets a trailing mean, as the runner's train
// line, over a window that suits a short run (a tenth of it, 5 to SMOOTH steps)
const smoothWindow = (steps) => Math.min(SMOOTH, Math.max(5, Math.round(steps / 10)));

const $ = (id) => document.getElementById(id);

export class Twins {
  constructor(lab) {
    this.lab = lab;
    this.chart = new LossChart($('tw-chart'));
    this.runs = {A: null, B: null};
    $('tw-differ').onclick = () => {
      const a = $('tw-a').value, last = a.slice(-1);
      $('tw-b').value = a.slice(0, -1) + (last === 'x' ? 'y' : 'x');
    };
    $('tw-start').onclick = guarded(() => this.start(), {onFail: () => { $('tw-result').textContent = ''; }});
  }

  async start() {
    $('tw-result').textContent = 'training…'; $('tw-result').className = '';   // before any await
    const old = Object.values(this.runs).filter(Boolean);
    this.runs = {A: null, B: null};
    for (const twin of old) await closeRun(twin.stream, twin.id);
    this.chart.clear();
    this.parted = null;
    $('tw-hash-a').textContent = '–'; $('tw-hash-b').textContent = '–';
    const steps = Number($('tw-steps').value);
    this.chart.setXMax(steps);
    this.window = smoothWindow(steps);
    for (const [name, color, dash] of [['A', '#2563eb', []], ['B', '#ea580c', [5, 4]]]) {
      const seed = $(name === 'A' ? 'tw-a' : 'tw-b').value;
      this.chart.setSeries(name, [], {color, dash, width: 1, alpha: 0.35});
      this.chart.setSeries(`${name}-mean`, [], {color, dash, width: 2,
        legend: `${name}: seed "${seed}" (mean of last ${this.window} steps)`});
      const {id} = await startRun({preset: 'microgpt', data: 'names', engine: 'numpy', seed, steps,
                                    sample_every: 0, label: `twin ${name}`});
      const twin = {id, seed, losses: new Map(), recent: [], hash: null, state: 'queued'};
      twin.stream = new RunStream(id, (m) => this.onEvent(name, twin, m));
      this.runs[name] = twin;
    }
  }

  onEvent(name, twin, m) {
    if (m.event === 'step') {
      const loss = num(m.loss);
      twin.losses.set(m.iter, loss);
      this.chart.addPoint(name, m.iter, loss);
      twin.recent.push([m.iter, loss]);
      if (twin.recent.length > this.window) twin.recent.shift();
      const mean = twin.recent.reduce((sum, [, l]) => sum + l, 0) / twin.recent.length;
      this.chart.addPoint(`${name}-mean`, (twin.recent[0][0] + m.iter) / 2, mean);   // at its window's middle
      const other = this.runs[name === 'A' ? 'B' : 'A'];
      if (this.parted === null && other && other.losses.has(m.iter) && !Object.is(other.losses.get(m.iter), loss)) {
        this.parted = m.iter;
      }
      this.report();
    } else if (m.event === 'status') { twin.state = m.state; this.report(); }
    else if (m.event === 'hash') {
      twin.hash = m.hash;
      $(name === 'A' ? 'tw-hash-a' : 'tw-hash-b').textContent = m.hash;
      this.report();
    }
  }

  report() {
    const {A, B} = this.runs;
    if (!A || !B) return;
    const both = Math.min(A.losses.size, B.losses.size);
    const box = $('tw-result');
    let text = this.parted !== null ? `the curves part at iter ${this.parted}` :
      `curves identical for all ${both} iters so far`;
    if (B.state === 'queued' || B.state === 'waiting') text += ' (B waits for a free training slot)';
    if (A.hash && B.hash) {
      const same = A.hash === B.hash;
      text += same ? ' · identical weight hashes' : ' · different weight hashes';
      // both outcomes are what the lesson asks for: identical is a match (green), parted is neutral; only equal
      // seeds whose weights differ would be a real alarm (the run was not reproducible)
      box.className = same ? 'tw-same' : A.seed === B.seed ? 'tw-unexpected' : 'tw-parted';
    }
    box.textContent = text;
    box.dataset.parted = this.parted ?? '';
    this.lab.emit('twins', {seedA: A.seed, seedB: B.seed, hashA: A.hash, hashB: B.hash, parted: this.parted});
  }
}
