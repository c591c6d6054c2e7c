// The lesson's questions: choices as buttons, numbers as an input with the unit shown. The server grades each
// answer and returns the explanation; the first answer to each question decides the score (Progress).
import {guarded, postJSON} from './api.js';
import {el} from './format.js';

const STATE_TEXT = {right: 'Right.', wrong: 'Not quite.', 'right-later': 'Right on a later try.'};

export class Quiz {
  /** `onChange` is called after every answer and retake (the page updates its scores). */
  constructor(lab, progress, lessonId, onChange) {
    this.lab = lab; this.progress = progress; this.lesson = lessonId; this.onChange = onChange;
    this.questions = [];
  }

  stateOf(qid) {
    const a = this.progress.lesson(this.lesson).answers[qid];
    if (!a) return 'unanswered';
    if (!a.correct) return 'wrong';
    return a.first ? 'right' : 'right-later';
  }

  render(block) {
    const feedback = el('div', {class: 'feedback', 'aria-live': 'polite', hidden: ''});
    const prompt = el('div', {class: 'prompt'}); prompt.innerHTML = block.prompt;
    const node = el('div', {class: 'question', 'data-question': block.id, 'data-kind': block.kind},
      el('div', {class: 'question-label'}, `Question ${this.questions.length + 1}`), prompt);
    const q = {block, node, feedback, controls: []};
    if (block.kind === 'choice') {
      const list = el('div', {class: 'choices'});
      block.choices.forEach((html, i) => {
        const button = el('button', {class: 'choice', 'data-index': i, type: 'button'});
        button.innerHTML = html;
        button.onclick = guarded(() => this.answer(q, i, button), {panel: node});
        list.append(button); q.controls.push(button);
      });
      node.append(list);
    } else {
      const input = el('input', {class: 'answer', type: 'text', inputmode: 'decimal', size: '10', 'aria-label': 'your answer'});
      const submit = el('button', {class: 'submit primary', type: 'button'}, 'Check');
      const go = guarded(() => {
        const value = Number(input.value.trim().replace(',', '.'));
        if (input.value.trim() === '' || !Number.isFinite(value)) throw new Error('type a number, e.g. 3.3');
        return this.answer(q, value, null);
      }, {panel: node});
      submit.onclick = go;
      input.onkeydown = (e) => { if (e.key === 'Enter') go(); };
      node.append(el('div', {class: 'number-answer controls'}, input, block.unit ? el('span', {class: 'unit'}, block.unit) : '', submit));
      q.controls.push(input, submit);
    }
    node.append(feedback);
    this.questions.push(q);
    this.show(q);
    return node;
  }

  async answer(q, value, button) {
    const r = await postJSON(`api/course/lessons/${encodeURIComponent(this.lesson)}/answer`, {question: q.block.id, answer: value});
    for (const b of q.node.querySelectorAll('button.choice')) b.classList.remove('picked');
    if (button) button.classList.add('picked');
    this.progress.answer(this.lesson, q.block.id, r.correct, {explain: r.explain, given: value});
    this.show(q);
    this.onChange();
  }

  // the question as the stored answers leave it: state, feedback with explanation, locked once right
  show(q) {
    const state = this.stateOf(q.block.id), saved = this.progress.lesson(this.lesson).answers[q.block.id];
    q.node.dataset.state = state;
    const locked = state === 'right' || state === 'right-later';
    for (const c of q.controls) c.disabled = locked;
    if (!saved) { q.feedback.hidden = true; q.feedback.replaceChildren(); for (const b of q.node.querySelectorAll('.picked')) b.classList.remove('picked'); return; }
    if (q.block.kind === 'choice') {
      for (const b of q.node.querySelectorAll('button.choice')) {
        b.classList.toggle('picked', Number(b.dataset.index) === saved.given);
        b.classList.toggle('right', locked && Number(b.dataset.index) === saved.given);
      }
    } else if (saved.given !== undefined && !q.node.querySelector('input.answer').value) q.node.querySelector('input.answer').value = saved.given;
    const why = el('div', {class: 'explain'}); why.innerHTML = saved.explain || '';
    const tries = saved.tries > 1 ? ` (${saved.tries} tries)` : '';
    q.feedback.replaceChildren(el('b', {class: 'verdict'}, STATE_TEXT[state] + (state === 'wrong' ? ' Read the explanation and try again.' : tries)), why);
    q.feedback.hidden = false;
  }

  retake() {
    this.progress.retake(this.lesson);
    for (const q of this.questions) {
      for (const c of q.controls) { if (c.tagName === 'INPUT') c.value = ''; }
      this.show(q);
    }
    this.onChange();
  }

  score() {
    const answers = this.progress.lesson(this.lesson).answers;
    return this.questions.filter((q) => answers[q.block.id] && answers[q.block.id].first).length;
  }
}
