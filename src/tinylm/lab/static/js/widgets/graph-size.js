// The scalar engine's graph for one training step of microGPT, plain vs fused: how many numbers (nodes) and
// links (edges) backward has to visit, how deep the graph is, and that the loss is the same either way.
import {getJSON, guarded} from '../api.js';
import {el} from '../format.js';

const int = (v) => Number(v).toLocaleString('en-US');
const ROWS = [
  ['nodes', 'nodes', int, 'numbers, each remembering the operation and inputs that made it'],
  ['edges', 'edges', int, 'links from a number to its inputs: one local derivative each'],
  ['leaves', 'leaves', int, 'the inputs and parameters (nodes made by no operation)'],
  ['depth', 'depth', int, 'the longest chain from a parameter to the loss'],
  ['loss', 'loss', (v) => Number(v).toFixed(12), 'on the name, forward only'],
  ['seconds', 'seconds', (v) => Number(v).toFixed(2), 'forward + backward, pure Python'],
];

export function createGraphSize(lab, config = {}) {
  const name = el('input', {class: 'gs-name', value: String(config.name ?? 'emma'), size: '10', maxlength: '16'});
  const measure = el('button', {class: 'primary gs-measure'}, 'Measure one step');
  const table = el('table', {class: 'data gs-table'});
  const summary = el('p', {class: 'gs-summary'});
  const section = el('section', {class: 'card widget-card', id: 'w-graph-size'},
    el('h2', {}, 'How big is the graph of one step?'),
    el('div', {class: 'controls'}, el('label', {}, 'name ', name), measure),
    el('div', {class: 'table-box'}, table), summary);
  measure.onclick = guarded(async () => {
    summary.textContent = 'building both graphs and walking them backwards (pure Python: a few seconds)…';
    table.replaceChildren();
    const r = await getJSON(`api/course/graph-size?name=${encodeURIComponent(name.value.trim())}`);
    table.replaceChildren(
      el('tr', {}, el('th', {}, ''), el('th', {}, 'plain'), el('th', {}, 'fused'), el('th', {}, 'plain ÷ fused'), el('th', {class: 'note'}, '')),
      ...ROWS.filter(([key]) => r.plain[key] !== undefined).map(([key, label, show, note]) => el('tr', {'data-row': key},
        el('th', {}, label), el('td', {}, show(r.plain[key])), el('td', {}, show(r.fused[key])),
        el('td', {}, key === 'loss' ? '' : `${(r.plain[key] / r.fused[key]).toFixed(1)}×`), el('td', {class: 'muted note'}, note))));
    const same = Math.abs(r.plain.loss - r.fused.loss);
    summary.textContent = `One step on “${r.name}” with the ${r.preset} preset (${int(r.params)} parameters): fusing ` +
      `shrinks the graph ${(r.plain.nodes / r.fused.nodes).toFixed(1)}× in nodes, and the two losses differ by ` +
      `${same === 0 ? 'nothing at all' : same.toExponential(1)}: the same maths, fewer steps to walk.`;
    lab.emit('course', {kind: 'graph-size', result: r});
  }, {onFail: () => { summary.textContent = ''; }});
  return section;
}
