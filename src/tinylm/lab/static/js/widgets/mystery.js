// Mystery curves: six recorded runs without their labels. The learner names the pathology of each; the first
// answer per curve is scored, and the explanation follows every answer.
import {getJSON, guarded, num, postJSON} from '../api.js';
import {LossChart} from '../chart.js';
import {el} from '../format.js';

export function createMystery(lab) {
  const grid = el('div', {class: 'grid mystery-grid'});
  const score = el('p', {class: 'mystery-score', 'aria-live': 'polite'});
  const section = el('section', {class: 'card widget-card', id: 'w-mystery'},
    el('h2', {}, 'Mystery curves: what went wrong here?'),
    el('p', {class: 'muted'}, 'Six real runs, recorded, labels hidden. Blue: the training loss at each step; orange dots: ' +
      'the validation loss; dashed grey: ln V, where guessing evenly would sit. Name each one.'),
    grid, score);
  const firsts = new Map();           // curve id -> was the first answer right
  let total = 0;
  const report = () => {
    const right = [...firsts.values()].filter(Boolean).length;
    score.textContent = `Score: ${right} of ${total} named right` + (firsts.size < total ? ` (${total - firsts.size} still to name)` : '.');
    section.dataset.score = String(right);
    lab.emit('course', {kind: 'mystery', correct: right, answered: firsts.size, total});
  };
  guarded(async () => {
    const {curves, choices} = await getJSON('api/course/mystery');
    total = curves.length;
    grid.replaceChildren(...curves.map((c, i) => {
      const canvas = el('canvas', {width: 360, height: 190});
      const pick = el('select', {class: 'mystery-pick', 'aria-label': `curve ${i + 1}: which pathology?`},
        new Option('which one is it?', ''), ...choices.map((ch) => new Option(ch.title, ch.name)));
      const answer = el('button', {class: 'mystery-answer'}, 'Answer');
      const feedback = el('div', {class: 'feedback', hidden: ''});
      const card = el('div', {class: 'break mystery', 'data-curve': c.id},
        el('h3', {}, `Curve ${i + 1}`), canvas, el('div', {class: 'controls'}, pick, answer), feedback);
      const chart = new LossChart(canvas);
      const loss = c.loss.map((y, k) => [k + 1, num(y)]);
      // a run that broke within a few steps would be a sliver over the full length: draw the stretch it ran
      chart.setXMax(loss.length < c.steps / 4 ? Math.max(10, 2 * loss.length) : c.steps);
      chart.setRefs([{y: c.uniform, label: `ln V ${c.uniform.toFixed(2)}`}]);
      chart.setSeries('loss', loss, {color: '#2563eb', width: 1.2});
      if (c.val.length) chart.setSeries('val', c.val.map(([x, y]) => [x, num(y)]), {color: '#ea580c', width: 1.5, dots: true});
      answer.onclick = guarded(async () => {
        if (!pick.value) throw new Error('pick a pathology from the list first');
        const r = await postJSON('api/course/mystery', {id: c.id, answer: pick.value});
        if (!firsts.has(c.id)) firsts.set(c.id, r.correct);
        // one answer per curve counts: the explanation (and so the answer) is shown after it. The select keeps
        // the learner's own pick, and the feedback names both, so neither can be mistaken for the other
        card.dataset.state = r.correct ? 'right' : 'wrong';
        feedback.hidden = false;
        const said = pick.selectedOptions[0].textContent;
        const why = el('span'); why.innerHTML = ' ' + r.explain;
        feedback.replaceChildren(r.correct ? el('b', {}, `Right: it was ${r.title}.`) :
          el('b', {}, `Not quite. You said: ${said} · It was: ${r.title}.`), why);
        pick.disabled = true; answer.disabled = true;
        report();
      });
      return card;
    }));
    report();
  }, {panel: section})();
  return section;
}
