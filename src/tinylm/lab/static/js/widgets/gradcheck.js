// A gradient check: nudge one parameter of the hand-derived MLP by ±ε, measure the loss both times, and
// compare the slope (the finite difference) with the gradient the hand-written backward pass computed.
import {getJSON, guarded, postJSON} from '../api.js';
import {el, sci} from '../format.js';

const EPSILONS = ['1e-1', '1e-2', '1e-3', '1e-4', '1e-5', '1e-6', '1e-7', '1e-8'];

/** Plain words for a relative error between the slope and the hand gradient. */
export function verdict(r) {
  if (r.numeric === 0 && r.analytic === 0) {
    return ['same', 'Both are exactly 0: this entry does not touch the loss of this name (for example an ' +
      'embedding row of a letter the name does not contain). Pick another entry, or another name.'];
  }
  const e = r.rel_error;
  if (!Number.isFinite(e)) return ['bad', 'The two numbers could not be compared (a loss was not finite).'];
  if (e < 1e-6) {
    const digits = Math.max(1, Math.floor(-Math.log10(Math.max(e, 1e-16))));
    return ['same', `They agree to about ${digits} significant digits: the hand-derived gradient is right for this entry.`];
  }
  if (e < 1e-3) {
    return ['close', 'They agree to a few digits only. That is ε talking, not a bug: a large ε measures the ' +
      'slope over a curved stretch, a tiny one loses digits to rounding. Try ε = 1e-4 or 1e-5.'];
  }
  return ['bad', 'They disagree. With a sensible ε (1e-4 to 1e-6) that would mean a mistake in the ' +
    'hand-derived backward pass; with ε = 0.1 or 0.01 the slope is measured too coarsely.'];
}

export function createGradcheck(lab, config = {}) {
  const param = el('select', {class: 'gc-param'});
  const index = el('input', {class: 'gc-index', type: 'number', min: '0', value: '0', size: '6'});
  const eps = el('select', {class: 'gc-eps'}, ...EPSILONS.map((e) => new Option(`ε = ${e}`, e)));
  eps.value = String(config.eps ?? '1e-4');
  const name = el('input', {class: 'gc-name', value: String(config.name ?? 'emma'), size: '10', maxlength: '16'});
  const random = el('button', {class: 'gc-random'}, 'Random entry');
  const check = el('button', {class: 'primary gc-check'}, 'Check this gradient');
  const table = el('table', {class: 'data gc-table'});
  const say = el('p', {class: 'gc-verdict', 'data-verdict': ''});
  const size = el('span', {class: 'muted gc-size'});
  const section = el('section', {class: 'card widget-card', id: 'w-gradcheck'},
    el('h2', {}, 'Gradient check: the slope against the hand-derived gradient'),
    el('div', {class: 'controls'}, el('label', {}, 'parameter ', param), el('label', {}, 'entry ', index), size, random),
    el('div', {class: 'controls'}, el('label', {}, 'name ', name), el('label', {}, 'nudge ', eps), check),
    el('div', {class: 'table-box'}, table), say);
  let params = [];
  const current = () => params.find((p) => p.name === param.value);
  const limit = () => {
    const p = current();
    if (!p) return;
    index.max = String(p.size - 1);
    size.textContent = `0 … ${(p.size - 1).toLocaleString('en-US')} (shape ${p.shape.join(' × ')})`;
  };
  param.onchange = limit;
  random.onclick = () => { const p = current(); if (p) index.value = String(Math.floor(Math.random() * p.size)); };
  check.onclick = guarded(async () => {
    const p = current();
    const i = Number(index.value);
    if (!p || !Number.isInteger(i) || i < 0 || i >= p.size) throw new Error(`entry must be a whole number from 0 to ${p ? p.size - 1 : '…'}`);
    const r = await postJSON('api/course/gradcheck', {param: p.name, index: i, eps: Number(eps.value),
                                                      name: name.value.trim(), seed: String(config.seed ?? 'lesson-2')});
    const row = (k, v, note) => el('tr', {}, el('th', {}, k), el('td', {}, v), el('td', {class: 'muted'}, note));
    table.replaceChildren(
      row(`${r.param}[${r.index}]`, sci(r.value), 'the parameter θ, before any nudge'),
      row('loss(θ + ε)', r.loss_plus.toFixed(10), `the loss on “${r.name}” with θ nudged up`),
      row('loss(θ − ε)', r.loss_minus.toFixed(10), '… and nudged down'),
      row('slope', sci(r.numeric), '(loss(θ+ε) − loss(θ−ε)) / 2ε: measured'),
      row('hand gradient', sci(r.analytic), 'from the backward pass written out by hand'),
      row('relative error', sci(r.rel_error), '|slope − gradient| / (|slope| + |gradient|)'));
    const [kind, words] = verdict(r);
    say.textContent = words; say.dataset.verdict = kind;
    lab.emit('course', {kind: 'gradcheck', result: r});
  }, {onFail: () => { table.replaceChildren(); say.textContent = ''; say.dataset.verdict = ''; }});
  guarded(async () => {
    const r = await getJSON('api/course/gradcheck/params');
    params = r.params;
    param.replaceChildren(...params.map((p) => new Option(`${p.name} (${p.size.toLocaleString('en-US')})`, p.name)));
    limit();
  }, {panel: section})();
  return section;
}
