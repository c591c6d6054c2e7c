// Wires the panels together. `window.tinylab` exposes their state (handy for tests and curious users).
import {command, getJSON, guarded, showError, uploadOnChange} from './api.js';
import {Breaks} from './breaks.js';
import {Checkpoints} from './checkpoints.js';
import {Course, routeOf, showView} from './course.js';
import {Cycle} from './cycle.js';
import {Inspector} from './inspector.js';
import {HIDDEN_PAUSE, Runner} from './runner.js';
import {Sandbox} from './sandbox.js';
import {Twins} from './twins.js';

const $ = (id) => document.getElementById(id);

class Lab {
  constructor() { this.listeners = {}; this.textUpload = ''; this.autoPaused = false; }
  on(kind, fn) { (this.listeners[kind] ||= []).push(fn); }
  off(kind, fn) { this.listeners[kind] = (this.listeners[kind] || []).filter((f) => f !== fn); }
  emit(kind, ...args) { for (const fn of this.listeners[kind] || []) fn(...args); }
}

async function main() {
  const lab = new Lab();
  window.tinylab = lab;
  showView(routeOf(location.hash).view);      // at once: the page opens on the right view
  let info;
  try { info = await getJSON('api/info'); }
  catch (err) { $('conn').textContent = 'not connected'; showError(err.message); return; }
  $('conn').textContent = 'connected'; $('conn').className = 'pill running';
  lab.info = info;
  if (info.classroom) await joinClass(lab, info.classroom);
  $('preset').replaceChildren(...info.presets.map((p) => new Option(`${p.name}`, p.name)));
  for (const o of $('preset').options) o.title = info.presets.find((p) => p.name === o.value).description;
  $('preset').onchange = () => { $('steps').value = info.presets.find((p) => p.name === $('preset').value).steps; };
  $('engine').replaceChildren(...info.engines.map((e) => new Option(e, e)));

  uploadOnChange($('text-file'), 'api/uploads/text', $('text-info'), 'uploading…', (up, file) => {
    lab.textUpload = up.id; $('data').value = 'upload';
    $('text-info').textContent = `${file.name}: ${up.chars} chars, ${up.vocab} distinct`;
  });

  lab.runner = new Runner(lab);
  lab.cycle = new Cycle(lab);
  lab.breaks = new Breaks(lab);
  lab.sandbox = new Sandbox(lab);
  lab.inspector = new Inspector(lab);
  lab.checkpoints = new Checkpoints(lab);
  lab.twins = new Twins(lab);
  lab.course = new Course(lab);
  // a reloaded tab shows its run again: the stream replays its history, and a run that was training when
  // the old page went away trains on (the server resumes a run its last watcher left; see runner.reattach)
  await guarded(() => lab.runner.reattach(), {panel: 'runner'})();

  // Page Visibility: a hidden tab pauses the runner and resumes it, at the exact iter, when shown again.
  document.addEventListener('visibilitychange', guarded(async () => {
    const runner = lab.runner;
    if (!$('auto-pause').checked || !runner.id) return;
    if (document.hidden && runner.state === 'running') {
      lab.autoPaused = true; lab.pausedAtHide = runner.iter;
      sessionStorage.setItem(HIDDEN_PAUSE, runner.id);   // a reload (which hides the page first) resumes it
      await command(runner.id, 'pause');
      $('notice').textContent = 'paused while the tab is hidden';
    } else if (!document.hidden && lab.autoPaused) {
      lab.autoPaused = false;
      sessionStorage.removeItem(HIDDEN_PAUSE);
      const at = runner.iter;          // read before resuming: steps stream in while the command is answered
      await command(runner.id, 'resume');
      $('notice').textContent = `resumed at iter ${at} when the tab came back`;
    }
  }));
}

// Classroom mode: this page is one learner's session (or the teacher's): say whose, and start the course from
// the progress the server keeps for this learner.
async function joinClass(lab, who) {
  lab.classroom = who;
  $('who').hidden = false;
  if (who.teacher) {
    $('who').replaceChildren('teacher · ', Object.assign(document.createElement('a'), {href: 'teacher', textContent: 'the class'}));
    return;
  }
  $('who').textContent = `you: ${who.name}`;
  $('progress-where').textContent = 'Your progress and scores are kept by the class’s lab: your teacher sees your quiz scores.';
  lab.serverProgress = await getJSON('api/progress');
}

main();
