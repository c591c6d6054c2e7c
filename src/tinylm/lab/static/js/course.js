// The course: hash routes (#/ contents, #/lesson/<id> one lesson, #/workbench every panel), the contents page,
// the lesson page, and the learner's progress. A lesson's widgets are either the workbench's own panels,
// moved (DOM reparenting) into the lesson and moved back when the learner leaves it, or course widgets
// built for the lesson (js/widgets/).
import {getJSON, guarded, showError} from './api.js';
import {el} from './format.js';
import {Progress} from './progress.js';
import {Quiz} from './quiz.js';
import {Watcher} from './watch.js';
import {createBigram} from './widgets/bigram.js';
import {createGradcheck} from './widgets/gradcheck.js';
import {createGraphSize} from './widgets/graph-size.js';
import {createLoopCode} from './widgets/loop-code.js';
import {createMystery} from './widgets/mystery.js';

const $ = (id) => document.getElementById(id);
const PANELS = ['runner', 'cycle', 'breaks', 'sandbox', 'inspector', 'checkpoints', 'twins'];
const WIDGETS = {bigram: createBigram, gradcheck: createGradcheck, 'graph-size': createGraphSize,
  'loop-code': createLoopCode, mystery: createMystery};
const VIEWS = ['course', 'lesson', 'workbench'];

/** The route a hash stands for: {view, id}. */
export function routeOf(hash) {
  const path = hash.replace(/^#/, '');
  if (path === '/workbench') return {view: 'workbench'};
  const lesson = path.match(/^\/lesson\/([\w-]+)$/);
  if (lesson) return {view: 'lesson', id: lesson[1]};
  return {view: 'course'};
}

/** Show one view (and mark it in the header nav); the others are hidden. */
export function showView(view) {
  for (const v of VIEWS) $(v).hidden = v !== view;
  for (const a of document.querySelectorAll('nav.views a')) {
    const on = a.dataset.nav === (view === 'workbench' ? 'workbench' : 'course');
    a.classList.toggle('on', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

const setField = (id, value) => { if (value !== undefined && value !== null) $(id).value = String(value); };

// A panel's fields set from a lesson's widget block (the learner still presses the buttons).
const CONFIGURE = {
  runner(config, lab) {
    const active = lab.runner.id && !['finished', 'error'].includes(lab.runner.state);
    setField('data', config.data ?? 'names');
    if (config.preset) { setField('preset', config.preset); $('preset').dispatchEvent(new Event('change')); }
    for (const [key, id] of [['seed', 'seed'], ['steps', 'steps'], ['sample_every', 'sample-every'], ['engine', 'engine']]) setField(id, config[key]);
    $('lr').value = config.lr ?? '';
    // a live run keeps its pace; the slider is the next run's
    if (config.speed !== undefined && !active) { $('speed').value = String(config.speed); $('speed').dispatchEvent(new Event('input')); }
  },
  sandbox(config) {
    if (config.temperature !== undefined) { setField('sb-temp', config.temperature); $('sb-temp').dispatchEvent(new Event('input')); }
    setField('sb-prompt', config.prompt);
  },
  inspector(config) {
    setField('in-doc', config.document);
    if (config.param) {
      const select = $('in-param');
      if (![...select.options].some((o) => o.value === config.param)) select.append(new Option(config.param, config.param));
      select.value = config.param;
    }
  },
  twins(config) { setField('tw-a', config.seed_a); setField('tw-b', config.seed_b); setField('tw-steps', config.steps); },
};

export class Course {
  constructor(lab) {
    this.lab = lab;
    this.progress = new Progress(lab.serverProgress || null);
    this.watcher = new Watcher(lab, this.progress);
    this.course = null; this.current = null; this.subs = [];
    this.order = PANELS.map((id) => $(id));          // the workbench's order, to move panels back into
    window.addEventListener('hashchange', () => this.route());
    lab.on('progress', () => this.updateScores());
    this.route();
  }

  async route() {
    const {view, id} = routeOf(location.hash);
    if (this.current && !(view === 'lesson' && id === this.current)) this.leaveLesson();
    showView(view);
    if (view === 'workbench') { document.title = 'Workbench · tinylm'; return; }
    await guarded(async () => {
      this.course ||= await getJSON('api/course');
      if (view === 'course') this.contents();
      else if (id !== this.current) await this.openLesson(id);
    }, {panel: view === 'course' ? 'course' : 'lesson'})();
  }

  // ---- contents ---------------------------------------------------------------------------------------
  complete(l) {
    const mine = this.progress.lesson(l.id);
    return Object.keys(mine.answers).length >= l.questions && this.progress.exercisesDone(l.id) >= l.exercises;
  }

  contents() {
    document.title = 'The tinylm course';
    const lessons = this.course.lessons;
    $('course-title').textContent = this.course.title || 'The tinylm course';
    $('course-contents').replaceChildren(...lessons.map((l) => {
      const mine = this.progress.lesson(l.id);
      const state = this.complete(l) ? 'complete' : mine.visited ? 'started' : 'new';
      return el('li', {class: 'lesson', 'data-lesson': l.id, 'data-state': state},
        el('span', {class: 'number', 'aria-hidden': 'true'}, String(l.number)),
        el('div', {class: 'what'},
          el('h3', {}, el('a', {href: `#/lesson/${l.id}`}, l.title)),
          el('p', {class: 'summary'}, l.summary)),
        el('div', {class: 'meta'},
          el('span', {class: 'minutes'}, `${l.minutes} min`),
          el('span', {class: 'score'}, `quiz ${Math.min(this.progress.score(l.id), l.questions)}/${l.questions}`),
          el('span', {class: 'exercises'}, `exercises ${Math.min(this.progress.exercisesDone(l.id), l.exercises)}/${l.exercises}`),
          el('span', {class: 'status'}, state === 'complete' ? 'done ✓' : state === 'started' ? 'started' : '')));
    }));
    this.updateScores();
    const next = lessons.find((l) => !this.complete(l));
    const started = lessons.some((l) => this.progress.lesson(l.id).visited);
    const go = $('course-continue');
    if (next) {
      go.href = `#/lesson/${next.id}`;
      go.textContent = started ? `Continue: ${next.number}. ${next.title}` : 'Start the course';
    } else { go.href = lessons.length ? `#/lesson/${lessons[0].id}` : '#/'; go.textContent = 'Course complete: start again from lesson 1'; }
  }

  updateScores() {
    if (!this.course) return;
    const lessons = this.course.lessons;
    const total = lessons.reduce((n, l) => n + l.questions, 0);
    const right = lessons.reduce((n, l) => n + Math.min(this.progress.score(l.id), l.questions), 0);
    $('course-score').textContent = `Course score ${right}/${total}`;
    const score = $('lesson-score');           // absent while a lesson is being built, or without questions
    if (this.quiz && score) score.textContent = `Quiz score ${this.quiz.score()}/${this.quiz.questions.length}`;
  }

  // ---- one lesson -------------------------------------------------------------------------------------
  async openLesson(id) {
    $('lesson-body').replaceChildren(el('p', {class: 'muted'}, 'loading the lesson…'));
    const lesson = await getJSON(`api/course/lessons/${encodeURIComponent(id)}`);
    if (routeOf(location.hash).id !== id) return;          // the learner moved on meanwhile
    this.leaveLesson();
    this.current = id;
    this.progress.visit(id);
    document.title = `${lesson.number}. ${lesson.title} · tinylm`;
    $('lesson').dataset.lesson = id;
    $('lesson-number').textContent = `Lesson ${lesson.number} of ${this.course.lessons.length}`;
    $('lesson-minutes').textContent = `about ${lesson.minutes} minutes`;
    $('lesson-title').textContent = lesson.title;
    $('lesson-summary').textContent = lesson.summary;
    const runnerBlock = lesson.blocks.find((b) => b.type === 'widget' && b.widget === 'runner');
    this.watcher.attach(id, runnerBlock ? runnerBlock.config.preset : null);
    this.quiz = new Quiz(this.lab, this.progress, id, () => this.updateScores());
    const scoped = this.scopedLab();
    this.used = new Set(); this.pending = [];
    const nodes = lesson.blocks.map((b) => this.block(b, scoped));
    const last = nodes.findLastIndex((n) => n.matches('.question'));
    if (last >= 0) {        // the score and the retake button close the quiz
      const retake = el('button', {class: 'retake', type: 'button'}, 'Retake the quiz');
      retake.onclick = () => this.quiz.retake();
      nodes.splice(last + 1, 0, el('div', {class: 'quiz-summary'},
        el('span', {id: 'lesson-score', class: 'lesson-score'}, ''), retake));
    }
    $('lesson-body').replaceChildren(...nodes);
    for (const configure of this.pending) configure();
    this.updateScores();
    const link = (a, other, word) => {
      const target = other && this.course.lessons.find((l) => l.id === other);
      a.hidden = !target;
      if (target) { a.href = `#/lesson/${target.id}`; a.replaceChildren(el('span', {class: 'dir'}, word), el('span', {class: 'name'}, `${target.number}. ${target.title}`)); }
    };
    link(document.querySelector('a.lesson-prev'), lesson.prev, '← previous');
    link(document.querySelector('a.lesson-next'), lesson.next, 'next →');
    window.scrollTo(0, 0);
  }

  // the lab as the lesson's widgets see it: its listeners are dropped when the learner leaves the lesson
  scopedLab() {
    const lab = this.lab, subs = this.subs;
    const scoped = Object.create(lab);
    scoped.on = (kind, fn) => { lab.on(kind, fn); subs.push([kind, fn]); };
    return scoped;
  }

  block(b, scoped) {
    switch (b.type) {
      case 'text': { const node = el('div', {class: 'text'}); node.innerHTML = b.html; return node; }
      case 'check': return this.watcher.renderCheck(b);
      case 'exercise': return this.watcher.renderExercise(b);
      case 'question': return this.quiz.render(b);
      case 'widget': return this.widget(b, scoped);
      default: return el('div', {class: 'muted'}, `(a ${b.type} block this page does not know)`);
    }
  }

  widget(b, scoped) {
    const slot = el('div', {class: 'widget', 'data-widget': b.widget});
    const config = b.config || {};
    if (PANELS.includes(b.widget)) {
      const panel = $(b.widget);
      if (this.used.has(b.widget)) {       // a panel appears once per lesson: point back at it
        slot.append(el('p', {class: 'muted'}, `(the ${b.widget} panel is above)`));
        return slot;
      }
      this.used.add(b.widget);
      slot.append(panel);
      // configured once in the page: the panel's fields are found by id
      if (CONFIGURE[b.widget]) this.pending.push(() => CONFIGURE[b.widget](config, this.lab));
    } else if (WIDGETS[b.widget]) slot.append(WIDGETS[b.widget](scoped, config));
    else slot.append(el('p', {class: 'muted'}, `(unknown widget ${b.widget})`));
    return slot;
  }

  leaveLesson() {
    if (!this.current) return;
    // the panels go back into the workbench, in their original order
    for (const panel of this.order) $('workbench').append(panel);
    for (const [kind, fn] of this.subs) this.lab.off(kind, fn);
    this.subs = []; this.current = null; this.quiz = null;
    this.watcher.detach();
    $('lesson-body').replaceChildren();
    showError('');
  }
}

