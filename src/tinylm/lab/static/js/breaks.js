// "When training breaks": six pathology runs, each drawn over its recorded canonical curve.
import {RunStream, closeRun, getJSON, guarded, num, resetRun, showError, startRun} from './api.js';
import {LossChart} from './chart.js';
import {el} from './format.js';

export class Breaks {
  constructor(lab) {
    this.lab = lab;
    this.cards = {};
    const grid = document.getElementById('break-grid');
    for (const p of lab.info.pathologies) {
      const canvas = el('canvas', {width: 420, height: 200});
      const diag = el('div', {class: 'diag muted'}, `expected: ${p.expect}`);
      const button = el('button', {'data-name': p.name}, 'Run');
      const card = el('div', {class: 'break', id: `break-${p.name}`},
        el('h3', {}, p.title), el('div', {class: 'muted'}, p.what), canvas, el('div', {class: 'controls'}, button), diag);
      grid.append(card);
      const chart = new LossChart(canvas);
      this.cards[p.name] = {chart, diag, button, state: 'idle', diagnosis: null, losses: [], id: null};
      const expected = () => { diag.textContent = `expected: ${p.expect}`; diag.className = 'diag muted'; };
      button.onclick = guarded(() => this.run(p.name), {onFail: expected});
      this.loadCanonical(p.name).catch((err) => showError(`the recorded curve did not load: ${err.message}`, card));
    }
    document.getElementById('breaks-all').onclick = guarded(async () => {
      // all at once: the server trains as many as its cap allows and queues the rest
      await Promise.all(Object.keys(this.cards).map((name) => this.run(name, true).catch((err) => {
        const card = this.cards[name];
        card.diag.textContent = ''; card.diag.className = 'diag';
        showError(err.message || String(err), card.button);          // in the card that failed
      })));
    });
  }

  async loadCanonical(name) {
    const {curve} = await getJSON(`api/pathologies/${name}`);
    const card = this.cards[name];
    card.canonical = curve;
    if (!curve) return;
    // a run that breaks in a few iters is drawn over a short x range, so its curve is not a sliver
    card.xmax = curve.diagnosis.kind === 'diverged' ? Math.max(10, 2 * curve.loss.length) : curve.steps;
    card.chart.setXMax(card.xmax);
    card.chart.setRefs([{y: curve.uniform, label: `ln V ${curve.uniform.toFixed(2)}`}]);
    card.chart.setSeries('canon', curve.loss.map((y, i) => [i + 1, num(y)]), {color: '#9ca3af', alpha: 0.4, width: 5});
    if (curve.val.length) card.chart.setSeries('canon-val', curve.val.map(([x, y]) => [x, num(y)]), {color: '#fdba74', alpha: 0.5, width: 4});
  }

  // Start the pathology `name`; with `wait`, resolve with its final diagnosis (or error) event once it ends,
  // else with null as soon as it is started. The doctor's verdict is shown as it changes during the run.
  async run(name, wait = false) {
    const card = this.cards[name];
    await closeRun(card.stream, card.id);
    card.losses = []; card.diagnosis = null; card.state = 'starting';
    card.chart.setSeries('live', [], {color: '#2563eb', width: 1.5});
    card.chart.setSeries('val', [], {color: '#ea580c', width: 1.5, dots: true});
    card.chart.markers = [];
    card.diag.textContent = 'running…'; card.diag.className = 'diag muted';
    delete card.diag.dataset.kind; delete card.diag.dataset.final;
    const {id} = await startRun({pathology: name, engine: 'numpy', seed: 'pathology', label: name});
    card.id = id;
    const ended = new Promise((resolve) => {
      card.stream = new RunStream(id, (m) => {
        if (m.event === 'step') { card.losses.push(num(m.loss)); card.chart.addPoint('live', m.iter, num(m.loss)); }
        else if (m.event === 'eval' && m.iter > 0) card.chart.addPoint('val', m.iter, num(m.val_loss));
        else if (m.event === 'start') { card.chart.setXMax(card.xmax || m.steps); }
        else if (m.event === 'status') {
          card.state = m.state;
          // say why nothing moves yet: waiting for a training slot (the server names who holds them)
          if (!card.diagnosis) card.diag.textContent = (m.state === 'queued' || m.state === 'waiting')
            ? (m.reason || 'waiting for a free training slot') : 'running…';
        } else if (m.event === 'diagnosis') {
          card.diagnosis = m; card.diag.textContent = m.message;
          card.diag.className = 'diag ' + (m.kind === 'healthy' ? '' : 'bad');
          card.diag.dataset.kind = m.kind;
        } else if (m.event === 'finished') {       // the final diagnosis came just before
          card.diag.dataset.final = 'yes';
          card.stream.close(); resetRun(id); card.id = null; resolve(card.diagnosis);
        } else if (m.event === 'error') { card.diag.textContent = m.message; card.diag.className = 'diag bad'; resolve(m); }
      });
    });
    return wait ? ended : null;
  }
}
