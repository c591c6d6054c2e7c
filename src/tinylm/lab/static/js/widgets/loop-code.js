// The training loop as code: the four lines that train every neural net, from a toy classifier to an LLM.
// The line of the phase now running lights up: driven by the training-cycle panel ('cycle-phase' events),
// and, while the runner trains, all four lines are marked as running every step.
import {el} from '../format.js';

const LINES = [
  [null, 'for step in range(num_steps):'],
  [null, '    x, y = next_name()                 # the letters, and each one\'s true next character'],
  ['forward', '    logits = model(x)                  # forward: scores for every next character'],
  ['loss', '    loss = cross_entropy(logits, y)    # loss: mean of −log p(true next)'],
  ['backward', '    loss.backward()                    # backward: a gradient for every parameter'],
  ['update', '    optimizer.step(); optimizer.zero_grad()   # update: nudge them (Adam), clear the gradients'],
];

export function createLoopCode(lab) {
  const code = el('code', {}, ...LINES.map(([phase, text]) => {
    const line = el('span', {class: 'line'}, text);
    if (phase) line.dataset.phase = phase;
    return line;
  }));
  const status = el('p', {class: 'loop-status muted', 'aria-live': 'polite'}, 'Step through the training cycle or start a run: the line running now lights up.');
  const section = el('section', {class: 'card widget-card', id: 'w-loop-code'},
    el('h2', {}, 'The same loop trains every neural net'), el('pre', {class: 'loop-code'}, code), status);
  const light = (phase) => {
    for (const line of code.querySelectorAll('.line[data-phase]')) line.classList.toggle('on', line.dataset.phase === phase);
    section.dataset.phase = phase || '';
  };
  let cycling = false;
  lab.on('cycle-phase', (phase, detail) => {
    cycling = !!phase;
    light(phase);
    if (phase) {
      section.classList.remove('all');
      status.textContent = `The training cycle is in its ${phase} phase` + (detail ? ` (iter ${detail.iter}, the name “${detail.document}”).` : '.');
    }
  });
  lab.on('event', (m, runner) => {
    if (runner !== lab.runner) return;
    if (m.event === 'step' && !cycling) {
      section.classList.toggle('all', runner.state === 'running');
      status.textContent = `The runner is training: all four lines ran for each of its ${m.iter.toLocaleString('en-US')} steps so far.`;
    } else if (m.event === 'status' && m.state !== 'running') section.classList.remove('all');
  });
  return section;
}
