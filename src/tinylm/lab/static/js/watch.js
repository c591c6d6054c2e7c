// "What you should see" checks and the exercises the lab checks, on the lesson page. Both watch the lab's
// event bus: the runner's live events ('event'), and what the other panels and course widgets report
// ('sandbox-names', 'inspected', 'twins', 'course'). Done states persist through Progress.
import {num} from './api.js';
import {el} from './format.js';

// the phase labels in the order a run reaches them (training/phases.py): reaching a later one passes the earlier
const PHASE_ORDERS = [['random', 'character frequency', 'short words', 'styled text'],
  ['random letters', 'letter frequency', 'name-like pieces', 'name-shaped words']];
const RESUME_STEPS = 3;     // resume-match compares this many steps (the 2nd and 3rd need the optimizer state)
const MIN_SMOOTHED = 20;    // steps in the runner's trailing mean before a train loss counts as crossing a line

/** Whether `phase` is `target` or a later phase of the same list. */
export function reached(phase, target) {
  const order = PHASE_ORDERS.find((o) => o.includes(target));
  return !!order && order.indexOf(phase) >= order.indexOf(target);
}

const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
const show = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v));

/** Fill `{name}` placeholders from `values` (numbers with 2 decimals, whole numbers as they are). */
export function fill(template, values, html = false) {
  return String(template).replace(/\{(\w+)\}/g, (all, key) => (key in values ? (html ? escape(show(values[key])) : show(values[key])) : all));
}

function watchingFor(block) {
  const p = block.params || {};
  switch (block.kind) {
    case 'first-loss': return `for the first loss: it should be near ${p.ref === 'uniform' || !p.ref ? 'ln V, the loss of guessing evenly' : `the ${p.ref} line`}`;
    case 'loss-below': return `for the ${p.series === 'val' ? 'validation' : 'training'} loss to cross ${p.value !== undefined ? show(p.value) : `the ${p.ref} line`}`;
    case 'phase': return `for the samples to reach the “${p.phase}” phase`;
    case 'diagnosis': return `for the doctor's verdict “${p.diagnosis}”`;
    case 'finished': return 'for the run to finish';
    default: return '';
  }
}

export class Watcher {
  constructor(lab, progress) {
    this.lab = lab; this.progress = progress;
    this.lesson = null; this.checks = []; this.exercises = [];
    this.history = new Map();          // run id -> Map(iter -> loss): the runs watched in this tab
    this.run = null;                   // the runner's run as the checks see it
    this.pause = null;                 // pause-resume: {at, resumed}
    lab.on('event', (m, runner) => { if (runner === lab.runner) this.onEvent(m, runner); });
    lab.on('run', (id) => this.onRun(id));
    lab.on('course', (e) => this.exercise(e.kind, e));
    lab.on('sandbox-names', (e) => this.exercise('repeat-name', e));
    lab.on('inspected', (r) => this.exercise('surprise', r));
    lab.on('twins', (t) => { this.exercise('twins-identical', t); this.exercise('twins-part', t); });
  }

  /** Watch for one lesson: `preset` is its runner's preset (checks count only runs of it). */
  attach(lessonId, preset) { this.lesson = lessonId; this.preset = preset || null; this.checks = []; this.exercises = []; }
  detach() { this.lesson = null; this.checks = []; this.exercises = []; }

  // ---- rendering -------------------------------------------------------------------------------------
  renderCheck(block) {
    const text = el('p', {class: 'check-text'}), label = el('div', {class: 'check-label'}, 'What you should see');
    const node = el('div', {class: 'check', 'data-check': block.id, 'data-kind': block.kind}, label, text);
    const check = {block, node, text, label};
    const saved = this.progress.lesson(this.lesson).checks[block.id];
    if (saved && saved.state === 'done') this.setCheck(check, 'done', saved.text, false);
    else this.setCheck(check, 'waiting');
    this.checks.push(check);
    return node;
  }

  setCheck(check, state, text = '', save = true) {
    check.state = state;
    check.node.dataset.state = state;
    // a missed check says so in its heading too, not only in its colour
    check.label.textContent = state === 'missed' ? 'Not seen in this run' : 'What you should see';
    if (state === 'waiting') {
      check.text.replaceChildren(el('span', {class: 'watching'}, 'watching your run…'), ' ', el('span', {class: 'muted'}, watchingFor(check.block)));
      const other = this.run && this.preset && this.run.preset && this.run.preset !== this.preset;
      if (other) check.text.append(el('span', {class: 'muted'}, ` (start a ${this.preset} run: the runner now has a ${this.run.preset} run)`));
    } else if (state === 'done') {
      check.text.textContent = text;
      if (save && this.lesson) this.progress.checkDone(this.lesson, check.block.id, text);
    } else check.text.innerHTML = check.block.missed;
  }

  renderExercise(block) {
    const status = el('p', {class: 'exercise-status muted', 'aria-live': 'polite'});
    const done = el('div', {class: 'exercise-done'});
    const task = el('div', {class: 'exercise-task'}); task.innerHTML = block.task;
    const node = el('div', {class: 'exercise', 'data-exercise': block.id, 'data-kind': block.kind},
      el('div', {class: 'exercise-label'}, el('span', {class: 'tick', 'aria-hidden': 'true'}), el('span', {class: 'word'}, 'Try it')),
      task);
    if (block.hint) {
      const hint = el('div', {class: 'hint-body'}); hint.innerHTML = block.hint;
      node.append(el('details', {class: 'hint'}, el('summary', {}, 'Show a hint'), hint));
    }
    node.append(status, done);
    const exercise = {block, node, status, done};
    this.exercises.push(exercise);
    if (this.progress.lesson(this.lesson).exercises[block.id]) this.finishExercise(exercise, {}, false);
    else node.dataset.state = 'todo';
    return node;
  }

  finishExercise(exercise, values = {}, save = true) {
    exercise.node.dataset.state = 'done';
    exercise.node.querySelector('.word').textContent = 'Done';
    exercise.status.textContent = '';
    exercise.done.innerHTML = fill(exercise.block.done, values, true);
    if (save && this.lesson) this.progress.exerciseDone(this.lesson, exercise.block.id);
    this.lab.emit('progress');
  }

  // ---- the runner's run ------------------------------------------------------------------------------
  onRun(id) {
    // the old run went away (reset or replaced): a check it never fired is missed
    if (this.run && this.run.steps > 0) this.missRest();
    this.run = id ? {id, preset: null, steps: 0, start: null, first: null} : null;
    this.pause = null;
    for (const c of this.checks) if (c.state !== 'done') this.setCheck(c, 'waiting');
  }

  counts() { return this.run && (!this.preset || this.run.preset === this.preset); }

  missRest() { for (const c of this.checks) if (c.state === 'waiting' && this.counts()) this.setCheck(c, 'missed'); }

  onEvent(m, runner) {
    if (!this.run || this.run.id !== runner.id) this.run = {id: runner.id, preset: null, steps: 0, start: null, first: null};
    const run = this.run;
    if (m.event === 'start') {
      run.start = m; run.preset = m.preset;
      for (const c of this.checks) if (c.state === 'waiting') this.setCheck(c, 'waiting');   // names the preset
    }
    if (m.event === 'step') {
      run.steps += 1;
      const loss = num(m.loss);
      if (!this.history.has(run.id)) this.history.set(run.id, new Map());
      this.history.get(run.id).set(m.iter, loss);
    }
    if (this.counts()) for (const c of this.checks) this.check(c, m, runner);
    this.watchRun(m, runner);
    if (m.event === 'finished' && this.counts()) this.missRest();
  }

  check(c, m, runner) {
    const p = c.block.params || {}, run = this.run, start = run.start;
    const entropies = start ? start.entropies : {};
    const fire = (values) => this.setCheck(c, 'done', fill(c.block.done, values));
    switch (c.block.kind) {
      case 'first-loss': {
        if (m.event !== 'step' || run.steps !== 1 || !start || start.start_iter > 0 || c.state === 'done' && c.run === run.id) return;
        const ref = entropies[p.ref || 'uniform'], loss = num(m.loss);
        c.run = run.id;
        if (Math.abs(loss - ref) <= (p.tolerance ?? 0.3)) fire({loss, ref, iter: m.iter});
        else if (c.state !== 'done') this.setCheck(c, 'missed');
        return;
      }
      case 'loss-below': {
        if (c.run === run.id) return;              // fired for this run already
        const value = p.value ?? entropies[p.ref || 'bigram'];
        if (value === undefined) return;
        let loss = null;
        if (p.series === 'val') { if (m.event === 'eval' && m.iter > 0) loss = num(m.val_loss); }
        else if (m.event === 'step' && runner.recent.length >= Math.min(MIN_SMOOTHED, runner.steps)) loss = runner.smoothed;
        if (loss !== null && Number.isFinite(loss) && loss < value) { c.run = run.id; fire({iter: m.iter, loss, value}); }
        return;
      }
      case 'phase':
        if (c.run !== run.id && (m.event === 'phase' || m.event === 'sample') && reached(m.phase, p.phase)) {
          c.run = run.id; fire({iter: m.iter, phase: m.phase});
        }
        return;
      case 'diagnosis':
        if (c.run !== run.id && m.event === 'diagnosis' && m.kind === p.diagnosis) { c.run = run.id; fire({iter: m.iter, message: m.message}); }
        return;
      case 'finished':
        if (m.event === 'finished' && m.reason === 'finished') {
          const loss = runner.smoothed, improved = runner.initial ? 100 * (runner.initial - loss) / runner.initial : 0;
          fire({iter: m.iter, loss, improved: Math.round(improved)});
        }
        return;
      default:
    }
  }

  // exercises that watch the runner's run
  watchRun(m, runner) {
    const run = this.run;
    if (m.event === 'step') {
      this.exercise('first-loss', {});
      if (this.pause && this.pause.resumed) {
        const ok = m.iter === this.pause.at + 1;
        this.exercise('pause-resume', {ok, at: this.pause.at, iter: m.iter});
        this.pause = null;
      } else if (this.pause && runner.state === 'paused') this.pause.at = m.iter;   // a single step while paused
      // a resumed run: its first RESUME_STEPS losses against the run watched earlier (the first loss shows the
      // weights and data position came back; the next ones need Adam's m, v and step count too)
      const from = run.start ? run.start.start_iter : 0;
      if (from > 0 && m.iter > from && m.iter <= from + RESUME_STEPS) {
        (run.resumedLosses ||= []).push([m.iter, num(m.loss)]);
        if (m.iter === from + RESUME_STEPS) this.resumed(run.resumedLosses);
      }
    } else if (m.event === 'status') {
      if (m.state === 'paused' && run.steps > 0 && !this.pause) this.pause = {at: m.iter ?? runner.iter, resumed: false};
      else if (m.state === 'running' && this.pause) this.pause.resumed = true;
    } else if (m.event === 'finished' || (m.event === 'diagnosis' && m.kind === 'diverged')) {
      if (m.reason === 'diverged' || m.kind === 'diverged') this.exercise('diverge', {iter: m.iter});
      if (m.event === 'finished' && m.reason === 'finished') {
        this.exercise('finish-run', {preset: run.preset, loss: runner.smoothed, iter: m.iter});
      }
    } else if (m.event === 'phase' || m.event === 'sample') this.exercise('reach-phase', {phase: m.phase, iter: m.iter});
  }

  // the first steps of a run resumed from a checkpoint, against the same iters of a run watched earlier
  resumed(steps) {
    let earlier = null;
    for (const [id, losses] of this.history) {
      if (id !== this.run.id && steps.every(([it]) => losses.has(it))) earlier = steps.map(([it]) => losses.get(it));
    }
    this.exercise('resume-match', {steps, earlier});
  }

  /** Something happened that may complete exercises of `kind`. */
  exercise(kind, e) {
    for (const x of this.exercises) {
      if (x.block.kind !== kind || x.node.dataset.state === 'done') continue;
      const p = x.block.params || {};
      const verdict = this.judge(kind, p, e);
      if (verdict === true) this.finishExercise(x, e.values || e);
      else if (verdict) x.status.textContent = verdict;        // a near miss, in words
    }
  }

  /** true when done; a sentence when close but not done; false otherwise. */
  judge(kind, p, e) {
    switch (kind) {
      case 'diverge': case 'first-loss': case 'graph-size': return true;
      case 'bigram-names': return e.names && e.names.length > 0;
      case 'finish-run':
        if (p.preset && e.preset !== p.preset) return `That was a ${e.preset} run; this exercise wants a ${p.preset} run to finish.`;
        if (p.max_loss !== undefined && !(e.loss <= p.max_loss)) return `Your run finished at a loss of ${show(e.loss)}, above ${show(p.max_loss)}.`;
        return true;
      case 'reach-phase': return reached(e.phase, p.phase);
      case 'pause-resume': return e.ok ? true : `After the resume the run went on at iter ${e.iter}, not ${e.at + 1}.`;
      case 'gradcheck': {
        const r = e.result, limit = p.max_rel_error ?? 1e-6;
        if (r.analytic === 0 && r.numeric === 0) return 'That entry has a zero gradient for this name: pick one the name touches.';
        return r.rel_error < limit ? true : `Relative error ${r.rel_error.toExponential(1)}: not below ${limit.toExponential(0)} yet.`;
      }
      case 'repeat-name': {
        const seen = new Map();
        for (const n of e.names) if (n.trim()) seen.set(n, (seen.get(n) || 0) + 1);
        const [name, times] = [...seen].sort((a, b) => b[1] - a[1])[0] || ['', 0];
        if (times >= (p.min_repeats ?? 3)) { e.values = {name, temperature: e.temperature}; return true; }
        return times > 1 ? `At ${e.temperature.toFixed(2)} the most repeated name came ${times} times.` : false;
      }
      case 'surprise':
        return e.loss >= p.min_loss ? true : `“${e.document}” costs the model ${e.loss.toFixed(2)} nats a character: not surprising enough yet.`;
      case 'mystery': return e.correct >= (p.min_correct ?? 1);
      case 'twins-identical':
        return e.seedA === e.seedB && !!e.hashA && e.hashA === e.hashB;
      case 'twins-part': return e.seedA !== e.seedB && e.parted !== null && e.parted !== undefined;
      case 'resume-match': {
        const [first] = e.steps, last = e.steps[e.steps.length - 1];
        if (e.earlier === null) return `The resumed run's losses at iters ${first[0]}–${last[0]} have no run in this tab to compare with: let the original run go a few iters past the one you saved, then load the checkpoint again.`;
        const off = e.steps.findIndex(([, loss], i) => Math.abs(loss - e.earlier[i]) > 1e-9 * Math.max(1, Math.abs(e.earlier[i])));
        if (off < 0) { e.values = {iter: last[0], loss: last[1]}; return true; }
        return `At iter ${e.steps[off][0]} the resumed run's loss is ${e.steps[off][1].toFixed(6)}; the run watched earlier had ${e.earlier[off].toFixed(6)}.`;
      }
      default: return false;
    }
  }
}
