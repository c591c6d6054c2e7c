// The teacher's view of a class (classroom mode): every learner's lesson, quiz score, exercises and live loss
// (a sparkline each), the class chart overlaying everyone's lesson-1 curve, the scores as CSV, and a stop
// button for any learner's run. Refreshed every two seconds from GET api/class.
import {getJSON, guarded, postJSON, showError} from './api.js';
import {el} from './format.js';

const $ = (id) => document.getElementById(id);
const EVERY_MS = 2000;
const PALETTE = ['#2563eb', '#ea580c', '#0f766e', '#7c3aed', '#b91c1c', '#a16207', '#0891b2', '#be185d', '#4d7c0f',
  '#1e40af', '#c2410c', '#047857', '#6d28d9', '#9f1239', '#854d0e'];
const ACTIVE = new Set(['running', 'starting', 'queued', 'waiting']);

const colourOf = (i) => PALETTE[i % PALETTE.length];

function sparkline(curve) {
  const canvas = el('canvas', {class: 'spark', width: '160', height: '36'});
  if (!curve || curve.points.length < 2) return canvas;
  drawLines(canvas, [{points: curve.points, colour: '#2563eb'}], {pad: 2, width: 1.5});
  return canvas;
}

/** Lines on one canvas, sharing axes: x the iteration, y the loss (from the lowest to the highest point). */
function drawLines(canvas, lines, {pad = 30, width = 1.5, axes = false} = {}) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const all = lines.flatMap((l) => l.points);
  if (!all.length) return;
  const xMax = Math.max(...all.map((p) => p[0]), 1);
  const ys = all.map((p) => p[1]);
  const yMin = Math.min(...ys), yMax = Math.max(...ys, yMin + 1e-6);
  const x = (v) => pad + (w - 2 * pad) * (v / xMax);
  const y = (v) => h - pad - (h - 2 * pad) * ((v - yMin) / (yMax - yMin));
  if (axes) {
    ctx.strokeStyle = '#d9d6cf'; ctx.fillStyle = '#6b7280'; ctx.font = '11px system-ui'; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(pad, pad / 2); ctx.lineTo(pad, h - pad); ctx.lineTo(w - pad / 2, h - pad); ctx.stroke();
    ctx.fillText(yMax.toFixed(2), 2, pad); ctx.fillText(yMin.toFixed(2), 2, h - pad);
    ctx.fillText('iter 0', pad, h - 8); ctx.fillText(`iter ${xMax}`, w - pad - 50, h - 8);
  }
  for (const line of lines) {
    ctx.strokeStyle = line.colour; ctx.lineWidth = width; ctx.beginPath();
    line.points.forEach(([i, v], k) => (k ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
    ctx.stroke();
  }
}

class ClassView {
  constructor() {
    $('pause-all').onclick = guarded(async () => {
      const {paused} = await postJSON('api/class/pause-all', {});
      $('pause-info').textContent = `paused ${paused} run${paused === 1 ? '' : 's'}`;
      await this.refresh();
    });
  }

  async refresh() {
    const data = await getJSON('api/class');
    $('conn').textContent = 'connected'; $('conn').className = 'pill running';
    $('join-url').textContent = data.join_url || new URL(`join?key=${data.join_key}`, location.href).href;
    $('seats').textContent = `${data.joined} of ${data.seats} seats taken`;
    const cpu = data.cpu;
    const runs = (n) => `${n} run${n === 1 ? '' : 's'}`;
    $('cpu').textContent = `${runs(cpu.training_now)} training on ${cpu.cores} cores now, ${runs(cpu.waiting_for_a_turn)} waiting for a turn (turns of ${cpu.slice_ms} ms)`;
    this.table(data);
    this.chart(data);
  }

  table(data) {
    const lessons = Object.fromEntries(data.lessons.map((l) => [l.id, l]));
    const totalQ = data.lessons.reduce((n, l) => n + l.questions, 0);
    const totalE = data.lessons.reduce((n, l) => n + l.exercises, 0);
    $('nobody').hidden = data.learners.length > 0;
    $('learner-table').querySelector('tbody').replaceChildren(...data.learners.map((learner) => {
      const lesson = lessons[learner.lesson];
      const quiz = Object.values(learner.quiz).reduce((a, b) => a + b, 0);
      const done = Object.values(learner.exercises).reduce((a, b) => a + b, 0);
      const perLesson = data.lessons.filter((l) => learner.quiz[l.id] || learner.exercises[l.id])
        .map((l) => `${l.number}: ${learner.quiz[l.id]}/${l.questions}`).join(' · ');
      const run = learner.runs.find((r) => ACTIVE.has(r.state)) || learner.runs[learner.runs.length - 1];
      const stop = el('button', {type: 'button', class: 'stop'}, 'Stop');
      stop.disabled = !run || !ACTIVE.has(run.state);
      if (run) stop.onclick = guarded(async () => { await postJSON(`api/runs/${run.id}/command`, {cmd: 'stop', n: 1}); await this.refresh(); });
      return el('tr', {'data-learner': learner.name},
        el('td', {class: 'name'}, learner.name),
        el('td', {class: 'lesson'}, lesson ? `${lesson.number}. ${lesson.title}` : '–'),
        el('td', {class: 'quiz', title: perLesson || 'no answers yet'}, `${quiz}/${totalQ}`),
        el('td', {class: 'exercises'}, `${done}/${totalE}`),
        el('td', {class: 'run'}, run ? `${run.name} · ${run.state} · iter ${run.iter}${run.steps ? '/' + run.steps : ''}` : '–'),
        el('td', {class: 'loss'}, sparkline(learner.curve),
          learner.curve && learner.curve.points.length ? el('span', {class: 'last'}, learner.curve.points.at(-1)[1].toFixed(2)) : ''),
        el('td', {}, stop));
    }));
  }

  chart(data) {
    const curves = data.class_chart.curves;
    const lines = curves.map((c, i) => ({points: c.points, colour: colourOf(i)}));
    drawLines($('class-chart'), lines, {axes: true});
    $('class-legend').replaceChildren(...curves.map((c, i) => el('span', {class: 'key'},
      el('span', {class: 'swatch', style: `background:${colourOf(i)}`}), `${c.name} (iter ${c.iter})`)));
  }
}

async function main() {
  // the teacher token came in the URL; the page now holds it in a cookie: off the address bar (and the projector)
  if (new URLSearchParams(location.search).has('token')) history.replaceState(null, '', location.pathname);
  const view = new ClassView();
  window.tinyclass = view;
  const tick = async () => {
    try { await view.refresh(); showError(''); } catch (err) {
      $('conn').textContent = 'not connected'; $('conn').className = 'pill error'; showError(err.message);
    }
    view.timer = setTimeout(tick, EVERY_MS);
  };
  await tick();
}

main();
