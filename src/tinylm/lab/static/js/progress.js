// The learner's progress through the course, kept in this browser (localStorage key `tinylm.course`):
// {"lessons": {id: {"visited", "answers": {qid: {"first", "correct", "tries"}}, "exercises": {eid: true},
//  "checks": {cid: {"state": "done", "text"}}}}}. Nothing is sent to the server.
const KEY = 'tinylm.course';

function load() {
  try {
    const data = JSON.parse(localStorage.getItem(KEY) || '{}');
    return data && typeof data.lessons === 'object' && data.lessons ? data : {lessons: {}};
  } catch { return {lessons: {}}; }        // a hand-edited or foreign value: start afresh, never throw
}

export class Progress {
  constructor() { this.data = load(); }

  save() {
    try { localStorage.setItem(KEY, JSON.stringify(this.data)); } catch { /* storage full or blocked: keep going */ }
  }

  lesson(id) {
    const l = (this.data.lessons[id] ||= {});
    l.answers ||= {}; l.exercises ||= {}; l.checks ||= {};
    return l;
  }

  visit(id) { this.lesson(id).visited = true; this.save(); }

  /** Record an answer: the first answer decides the score, later ones only the current state. */
  answer(lesson, qid, correct, extra = {}) {
    const answers = this.lesson(lesson).answers;
    const old = answers[qid];
    answers[qid] = {first: old ? old.first : correct, correct, tries: (old ? old.tries : 0) + 1, ...extra};
    this.save();
    return answers[qid];
  }

  retake(lesson) { this.lesson(lesson).answers = {}; this.save(); }

  exerciseDone(lesson, eid) { this.lesson(lesson).exercises[eid] = true; this.save(); }

  checkDone(lesson, cid, text) { this.lesson(lesson).checks[cid] = {state: 'done', text}; this.save(); }

  /** First-try rights in a lesson. */
  score(lesson) { return Object.values(this.lesson(lesson).answers).filter((a) => a.first).length; }

  exercisesDone(lesson) { return Object.values(this.lesson(lesson).exercises).filter(Boolean).length; }

  answered(lesson) { return Object.keys(this.lesson(lesson).answers).length; }
}
