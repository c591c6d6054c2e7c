// The learner's progress through the course:
// {"lessons": {id: {"visited", "answers": {qid: {"first", "correct", "tries"}}, "exercises": {eid: true},
//  "checks": {cid: {"state": "done", "text"}}}}}.
// Alone, it is kept in this browser (localStorage key `tinylm.course`) and nothing is sent to the server.
// In a class (classroom mode) the server keeps it: the page starts from the server's copy (GET api/progress),
// the server records quiz answers as it grades them, and visits, exercises and checks are reported to it.
import {postJSON, showError} from './api.js';

const KEY = 'tinylm.course';
const MAX_CHECK_TEXT = 500;

function load() {
  try {
    const data = JSON.parse(localStorage.getItem(KEY) || '{}');
    return data && typeof data.lessons === 'object' && data.lessons ? data : {lessons: {}};
  } catch { return {lessons: {}}; }        // a hand-edited or foreign value: start afresh, never throw
}

export class Progress {
  /** `server`: the server's copy of the progress (classroom mode), or null to use this browser's. */
  constructor(server = null) {
    this.remote = !!server;
    this.data = server && typeof server.lessons === 'object' ? server : (this.remote ? {lessons: {}} : load());
  }

  save() {
    if (this.remote) return;
    try { localStorage.setItem(KEY, JSON.stringify(this.data)); } catch { /* storage full or blocked: keep going */ }
  }

  // classroom mode: tell the server (a failure is shown, the page keeps going with its own copy)
  report(path, body) {
    if (!this.remote) return;
    postJSON(path, body).catch((err) => showError(`your progress was not saved: ${err.message}`));
  }

  lesson(id) {
    const l = (this.data.lessons[id] ||= {});
    l.answers ||= {}; l.exercises ||= {}; l.checks ||= {};
    return l;
  }

  visit(id) { this.lesson(id).visited = true; this.save(); this.report('api/progress', {lesson: id, kind: 'visited'}); }

  /** Record an answer: the first answer decides the score, later ones only the current state. */
  answer(lesson, qid, correct, extra = {}) {
    const answers = this.lesson(lesson).answers;
    const old = answers[qid];
    answers[qid] = {first: old ? old.first : correct, correct, tries: (old ? old.tries : 0) + 1, ...extra};
    this.save();
    return answers[qid];
  }

  retake(lesson) { this.lesson(lesson).answers = {}; this.save(); this.report('api/progress/retake', {lesson}); }

  exerciseDone(lesson, eid) {
    const known = this.lesson(lesson).exercises[eid];
    this.lesson(lesson).exercises[eid] = true; this.save();
    if (!known) this.report('api/progress', {lesson, kind: 'exercise', item: eid});
  }

  checkDone(lesson, cid, text) {
    const known = this.lesson(lesson).checks[cid];
    this.lesson(lesson).checks[cid] = {state: 'done', text}; this.save();
    if (!known || known.text !== text) {
      this.report('api/progress', {lesson, kind: 'check', item: cid, text: String(text || '').slice(0, MAX_CHECK_TEXT)});
    }
  }

  /** First-try rights in a lesson. */
  score(lesson) { return Object.values(this.lesson(lesson).answers).filter((a) => a.first).length; }

  exercisesDone(lesson) { return Object.values(this.lesson(lesson).exercises).filter(Boolean).length; }

  answered(lesson) { return Object.keys(this.lesson(lesson).answers).length; }
}
