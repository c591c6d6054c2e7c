// The counting model as a heat map: 27 x 27 cells, rows = the current character, columns = the next one,
// darker = seen more often in the names. Hovering (or moving the keyboard cursor over) a cell reads it out;
// "Draw names" samples names from the normalised rows.
import {getJSON, guarded} from '../api.js';
import {el} from '../format.js';

const MARKER = '·';

// white -> teal -> deep blue, on a log scale: a few pairs are seen thousands of times, most a handful
function shade(t) {
  const stops = [[255, 255, 255], [153, 214, 204], [15, 118, 110], [23, 37, 84]];
  const x = Math.min(0.999, Math.max(0, t)) * (stops.length - 1), i = Math.floor(x), f = x - i;
  const [a, b] = [stops[i], stops[i + 1]];
  return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(',')})`;
}

export function createBigram(lab, config = {}) {
  const seed = String(config.seed ?? 'lesson-2'), count = Number(config.count ?? 20);
  const readout = el('div', {class: 'bg-readout', 'aria-live': 'polite'}, 'Point at a cell to read it.');
  const grid = el('div', {class: 'bg-grid', tabindex: '0', role: 'grid', 'aria-label': 'bigram counts: rows are the current character, columns the next'});
  const names = el('ul', {class: 'names bg-names'});
  const draw = el('button', {class: 'primary bg-draw'}, 'Draw names');
  const info = el('p', {class: 'muted bg-info'}, 'loading the count table…');
  const section = el('section', {class: 'card widget-card', id: 'w-bigram'},
    el('h2', {}, 'The counting model: which character follows which'),
    el('p', {class: 'bg-legend'}, `Row = the current character, column = the next one. `,
      el('b', {}, MARKER), ` is the start/end marker: row ${MARKER} holds the first letters of names, column ${MARKER} the last ones. Darker = more often.`),
    grid, readout, info,
    el('div', {class: 'controls'}, draw, el('span', {class: 'muted'}, `${count} names sampled from the rows`)), names);

  let data = null, draws = 0, cursor = [0, 1];
  const label = (i) => (i === data.marker ? MARKER : data.chars[i]);
  const show = (r, c) => {
    cursor = [r, c];
    const row = data.counts[r], total = row.reduce((a, b) => a + b, 0), n = row[c];
    const p = total ? n / total : 0;
    readout.textContent = `${label(r)} → ${label(c)}: ${n.toLocaleString('en-US')} times, p = ${p.toFixed(p > 0 && p < 0.01 ? 4 : 2)}`;
    for (const cell of grid.querySelectorAll('.on')) cell.classList.remove('on');
    grid.querySelector(`[data-r="${r}"][data-c="${c}"]`)?.classList.add('on');
  };

  const build = () => {
    const V = data.chars.length;
    const max = Math.max(...data.counts.flat());
    grid.style.setProperty('--n', V + 1);
    const cells = [el('span', {class: 'bg-head corner'}, '')];
    for (let c = 0; c < V; c++) cells.push(el('span', {class: 'bg-head'}, label(c)));
    for (let r = 0; r < V; r++) {
      cells.push(el('span', {class: 'bg-head'}, label(r)));
      for (let c = 0; c < V; c++) {
        const n = data.counts[r][c];
        const cell = el('span', {class: 'bg-cell', 'data-r': r, 'data-c': c});
        cell.style.background = n ? shade(Math.log1p(n) / Math.log1p(max)) : '#fff';
        cells.push(cell);
      }
    }
    grid.replaceChildren(...cells);
    info.textContent = `${data.counts.flat().reduce((a, b) => a + b, 0).toLocaleString('en-US')} pairs counted in the ${data.data} data. ` +
      `Used as a model, this table's loss on the training names is ${data.entropy.toFixed(2)} nats: the bigram line the networks are measured against.`;
  };

  grid.addEventListener('mouseover', (e) => {
    const cell = e.target.closest('.bg-cell');
    if (cell) show(Number(cell.dataset.r), Number(cell.dataset.c));
  });
  grid.addEventListener('focus', () => show(...cursor));
  grid.addEventListener('keydown', (e) => {
    const move = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]}[e.key];
    if (!move || !data) return;
    e.preventDefault();
    const V = data.chars.length;
    show((cursor[0] + move[0] + V) % V, (cursor[1] + move[1] + V) % V);
  });
  const fetchTable = (s) => getJSON(`api/course/bigram?seed=${encodeURIComponent(s)}&count=${count}`);
  draw.onclick = guarded(async () => {
    // the first draw uses the lesson's seed (the names the text talks about), later ones a fresh seed each
    const r = await fetchTable(draws ? `${seed}-${draws}` : seed);
    draws += 1;
    names.replaceChildren(...r.names.map((n) => el('li', {}, n || '(empty)')));
    lab.emit('course', {kind: 'bigram-names', names: r.names});
  });
  guarded(async () => { data = await fetchTable(seed); build(); show(data.marker, 1); }, {panel: section})();
  return section;
}
