// Twin seeds: two runs side by side. Same seed -> identical curves and weight hashes;
// a one-character change of seed -> the curves part; the page shows the iter where they do.
import {RunStream, closeRun, guarded, num, startRun} from './api.js';
import {LossChart} from './chart.js';

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
    for (const [name, color, dash] of [['A', '#2563eb', []], ['B', '#ea580c', [5, 4]]]) {
      const seed = $(name === 'A' ? 'tw-a' : 'tw-b').value;
      this.chart.setSeries(name, [], {color, dash, width: 1.5, legend: `${name}: seed "${seed}"`});
      const {id} = await startRun({preset: 'microgpt', data: 'names', engine: 'numpy', seed, steps,
                                    sample_every: 0, label: `twin ${name}`});
      const twin = {id, seed, losses: new Map(), hash: null, state: 'queued'};
      twin.stream = new RunStream(id, (m) => this.onEvent(name, twin, m));
      this.runs[name] = twin;
    }
  }

  onEvent(name, twin, m) {
    if (m.event === 'step') {
      const loss = num(m.loss);
      twin.losses.set(m.iter, loss);
      this.chart.addPoint(name, m.iter, loss);
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
      box.className = same ? 'same' : 'differ';
    }
    box.textContent = text;
    box.dataset.parted = this.parted ?? '';
    this.lab.emit('twins', {seedA: A.seed, seedB: B.seed, hashA: A.hash, hashB: B.hash, parted: this.parted});
  }
}
