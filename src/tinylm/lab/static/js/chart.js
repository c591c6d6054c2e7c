// A small loss chart on a canvas: curves, dashed reference lines with labels, NaN markers, clip markers.
//
// Axes use "nice" ticks (steps of 1, 2 or 5 x 10^k, labels rounded to the step's precision). The y range
// comes from the data: a few values far above the rest (a loss that overflows on its way to NaN) are
// clipped so they cannot flatten the curve, and each clipped stretch is marked at the top edge. An owner
// that knows what a sensible range is (the runner: a multiple of where the run started) can also set a cap,
// clipped and marked the same way, for a run that blows up for good rather than for a few values.

const TICK_TARGET_X = 6, TICK_TARGET_Y = 5;
const OUTLIER_GAP = 10;           // a top value 10x the next one is an outlier
const DEFAULT_X = 100, DEFAULT_Y = [0, 4];
const MIN_SPAN = 0.5;               // nats: the narrowest y range drawn
const REF_GAP = 12;                 // px between reference labels (11px text): closer ones would overlap

/** A step of 1, 2 or 5 x 10^k giving about `target` intervals over `span`. */
export function niceStep(span, target) {
  const raw = Math.max(span, 1e-12) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9));
}

/** Ticks covering [lo, hi] at a nice step: {step, lo, hi, values, labels}; lo/hi widened to whole steps. */
export function niceTicks(lo, hi, target) {
  if (!(hi > lo)) hi = lo + 1;
  const step = niceStep(hi - lo, target);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const first = Math.floor(lo / step + 1e-9), last = Math.ceil(hi / step - 1e-9);
  const values = [], labels = [];
  for (let i = first; i <= last; i++) {
    const v = Number((i * step).toFixed(decimals));   // integer multiple: no 0.6000000000000001
    values.push(v);
    labels.push(formatTick(v, step, decimals));
  }
  return {step, lo: first * step, hi: last * step, values, labels};
}

function formatTick(v, step, decimals) {
  if (step < 1e5) return v.toFixed(decimals);
  if (v === 0) return '0';
  const digits = Math.max(0, Math.floor(Math.log10(Math.abs(v))) - Math.floor(Math.log10(step)));
  return v.toExponential(digits).replace(/\.?0+e/, 'e').replace('e+', 'e');   // 1e26, 1.5e26
}

const shortNumber = (v) => (Math.abs(v) >= 1e5 ? v.toExponential(1).replace('e+', 'e') : v.toPrecision(4).replace(/\.?0+$/, ''));

/**
 * Where to write each reference label (the y of its line, in px) so no two are closer than REF_GAP: lines
 * close together (ln V, unigram and bigram a nat apart on a range thousands of nats tall) get labels pushed apart
 * around them, kept within [top, bottom]; a label that still has no room is dropped (null), never overlapped.
 */
export function refLabelPositions(ys, top, bottom) {
  const order = ys.map((y, i) => [y, i]).sort((a, b) => a[0] - b[0]);
  const out = ys.map(() => null);
  const fit = Math.max(1, Math.floor((bottom - top) / REF_GAP) + 1);
  const kept = order.slice(0, fit);           // more labels than rows: the lowest lines lose theirs
  // top-down: each label at its line or just below the previous one; then bottom-up back inside the range
  const pos = [];
  kept.forEach(([y], k) => pos.push(Math.max(y, top, k ? pos[k - 1] + REF_GAP : -Infinity)));
  for (let k = pos.length - 1; k >= 0; k--) pos[k] = Math.min(pos[k], k === pos.length - 1 ? bottom : pos[k + 1] - REF_GAP);
  kept.forEach(([, i], k) => { out[i] = pos[k]; });
  return out;
}

export class LossChart {
  constructor(canvas, {xLabel = 'iter', yLabel = 'loss (nats)'} = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.aspect = canvas.height / canvas.width;    // the markup's size fixes the shape; the box fixes the size
    this.xLabel = xLabel; this.yLabel = yLabel;
    if (typeof ResizeObserver !== 'undefined') new ResizeObserver(() => this.request()).observe(canvas);
    this.clear();
  }
  clear() { this.series = new Map(); this.refs = []; this.xmax = 0; this.markers = []; this.yCap = null; this.request(); }
  setXMax(x) { this.xmax = Math.max(1, x); this.request(); }
  setRefs(refs) { this.refs = refs; this.request(); }
  /** Clip the y range at `y` (never below the reference lines); null: no cap, the data decide. */
  setYCap(y) { this.yCap = Number.isFinite(y) ? y : null; this.request(); }
  setSeries(name, points, style = {}) { this.series.set(name, {points, ...style}); this.request(); }
  addPoint(name, x, y, style = {}) {
    if (!this.series.has(name)) this.series.set(name, {points: [], ...style});
    this.series.get(name).points.push([x, y]);
    if (!Number.isFinite(y)) this.markers.push({x, text: Number.isNaN(y) ? 'NaN' : 'inf'});
    this.request();
  }
  request() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  /** Data ranges: x from 0 to the run length (or the data); y from the data, outliers clipped. */
  bounds() {
    let lo = Infinity, hi = -Infinity, xmax = this.xmax, n = 0;
    const top = [];                                   // the largest few values, descending
    const keep = (y) => {
      if (top.length < 64 || y > top[top.length - 1]) {
        let i = top.length;
        while (i > 0 && top[i - 1] < y) i--;
        top.splice(i, 0, y);
        if (top.length > 64) top.pop();
      }
    };
    for (const s of this.series.values()) {
      if (s.ignoreForScale) continue;
      for (const [x, y] of s.points) {
        xmax = Math.max(xmax, x);
        if (!Number.isFinite(y)) continue;
        lo = Math.min(lo, y); hi = Math.max(hi, y); n++;
        keep(y);
      }
    }
    if (!n) { lo = DEFAULT_Y[0]; hi = DEFAULT_Y[1]; }
    for (const r of this.refs) { lo = Math.min(lo, r.y); hi = Math.max(hi, r.y); keep(r.y); }
    // clip above the lowest big gap among the top few values: the largest cut where a value is
    // OUTLIER_GAP x the next one, dropping at most max(6, 5% of the points) values
    const maxDrop = Math.min(top.length - 1, Math.max(6, Math.ceil(0.05 * n)));
    let cut = 0;
    for (let i = 0; i < maxDrop; i++) if (top[i] > OUTLIER_GAP * Math.max(top[i + 1], 1e-9)) cut = i + 1;
    let clipped = cut > 0;
    if (clipped) hi = top[cut];
    if (this.yCap !== null) {
      const cap = Math.max(this.yCap, ...this.refs.map((r) => r.y));
      if (hi > cap) { hi = cap; clipped = true; }
    }
    if (hi - lo < MIN_SPAN) {            // a flat curve: a readable range around it, not 1e-7 wide
      const mid = (hi + lo) / 2;
      lo = Math.max(lo >= 0 ? 0 : -Infinity, mid - MIN_SPAN / 2); hi = lo + MIN_SPAN;
    }
    const pad = n ? 0.04 * Math.max(hi - lo, 1e-6) : 0;
    lo = lo >= 0 ? Math.max(0, lo - pad) : lo - pad;
    hi += pad;
    return {lo, hi, xmax: xmax || DEFAULT_X, clipped};
  }

  fitToBox() {
    const dpr = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth;
    const height = Math.round(width * this.aspect);
    if (this.canvas.width !== Math.round(width * dpr) || this.canvas.height !== Math.round(height * dpr)) {
      this.canvas.width = Math.round(width * dpr);
      this.canvas.height = Math.round(height * dpr);
      this.canvas.style.height = `${height}px`;
    }
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return [width, height];
  }

  draw() {
    const {ctx} = this;
    if (!this.canvas.clientWidth) return;            // hidden: the ResizeObserver redraws it when shown
    const [W, H] = this.fitToBox();
    ctx.clearRect(0, 0, W, H);
    ctx.font = '11px system-ui, sans-serif';
    const b = this.bounds();
    const yt = niceTicks(b.lo, b.hi, TICK_TARGET_Y), xt = niceTicks(0, b.xmax, TICK_TARGET_X);
    const lo = b.clipped ? Math.max(yt.lo, b.lo) : yt.lo, hi = b.clipped ? b.hi : yt.hi;
    const xmax = xt.hi;
    const yLabels = yt.values.map((v, i) => (v >= lo - 1e-9 && v <= hi + 1e-9 ? yt.labels[i] : null));
    const L = 10 + Math.max(...yLabels.filter(Boolean).map((s) => ctx.measureText(s).width), 20);
    const R = 10 + Math.max(0, ...this.refs.map((r) => ctx.measureText(r.label).width + 6));
    const T = 16, B = 30;
    const X = (x) => L + (W - L - R) * x / xmax;
    const Y = (y) => T + (H - T - B) * (1 - (Math.min(Math.max(y, lo), hi) - lo) / (hi - lo));

    ctx.strokeStyle = '#e5e7eb'; ctx.fillStyle = '#6b7280'; ctx.lineWidth = 1; ctx.setLineDash([]);
    ctx.textAlign = 'right';
    yt.values.forEach((v, i) => {
      if (yLabels[i] === null) return;
      ctx.beginPath(); ctx.moveTo(L, Y(v)); ctx.lineTo(W - R, Y(v)); ctx.stroke();
      ctx.fillText(yLabels[i], L - 5, Y(v) + 4);
    });
    ctx.textAlign = 'center';
    xt.values.forEach((v, i) => {
      ctx.beginPath(); ctx.moveTo(X(v), T); ctx.lineTo(X(v), H - B); ctx.stroke();
      ctx.fillText(xt.labels[i], X(v), H - B + 14);
    });
    ctx.textAlign = 'right';
    ctx.fillText(this.xLabel, W - R, H - 3);
    ctx.textAlign = 'left';
    const labelY = refLabelPositions(this.refs.map((r) => Y(r.y)), T, H - B);
    this.refs.forEach((r, i) => {
      ctx.strokeStyle = r.color || '#9ca3af'; ctx.setLineDash(r.dash || [6, 4]);
      ctx.beginPath(); ctx.moveTo(L, Y(r.y)); ctx.lineTo(W - R, Y(r.y)); ctx.stroke();
      if (labelY[i] === null) return;            // no room left beside the plot: the line alone
      ctx.fillStyle = r.color || '#6b7280';
      ctx.fillText(r.label, W - R + 6, labelY[i] + 4);
    });
    ctx.setLineDash([]);
    const clips = [];
    for (const s of this.series.values()) {
      ctx.strokeStyle = s.color || '#2563eb'; ctx.lineWidth = s.width || 1.5; ctx.globalAlpha = s.alpha ?? 1;
      ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      let open = false, clip = null;
      const stride = Math.max(1, Math.floor(s.points.length / 4000));
      for (let i = 0; i < s.points.length; i++) {
        const [x, y] = s.points[i];
        if (!Number.isFinite(y)) { open = false; continue; }
        if (y > hi && (!clip || y > clip.y)) clip = {x, y, color: s.color || '#2563eb', alpha: s.alpha ?? 1};
        if (i % stride && i !== s.points.length - 1 && y <= hi) continue;
        if (open) ctx.lineTo(X(x), Y(y)); else ctx.moveTo(X(x), Y(y));
        open = true;
      }
      ctx.stroke();
      if (s.points.length === 1 || (s.points.length < 12 && !s.dots)) {   // too short for a visible line
        ctx.fillStyle = s.color || '#2563eb';
        const radius = Math.max(1.8, (s.width || 1.5) / 1.5);
        for (const [x, y] of s.points) if (Number.isFinite(y)) { ctx.beginPath(); ctx.arc(X(x), Y(y), radius, 0, 7); ctx.fill(); }
      }
      if (s.dots) {
        ctx.fillStyle = s.color;
        for (const [x, y] of s.points) if (Number.isFinite(y)) { ctx.beginPath(); ctx.arc(X(x), Y(y), 2.5, 0, 7); ctx.fill(); }
      }
      ctx.globalAlpha = 1;
      if (clip) clips.push(clip);
    }
    ctx.setLineDash([]);
    // clip markers: the curve leaves the chart here; the label gives the highest value it reached
    const labelled = new Set();
    clips.forEach((c) => {
      const x = X(c.x), text = `↑ ${shortNumber(c.y)} (clipped)`;
      ctx.globalAlpha = Math.max(c.alpha, 0.6);
      ctx.fillStyle = c.color;
      ctx.beginPath(); ctx.moveTo(x, T - 6); ctx.lineTo(x - 4, T); ctx.lineTo(x + 4, T); ctx.closePath(); ctx.fill();
      ctx.globalAlpha = 1;
      if (labelled.has(text)) return;            // the live run often clips where its recorded twin did
      ctx.fillStyle = '#92400e'; ctx.font = '10px system-ui, sans-serif';
      ctx.textAlign = x > W - R - 90 ? 'right' : 'left';
      ctx.fillText(text, x + (ctx.textAlign === 'left' ? 6 : -6), T - 4 + 11 * labelled.size);
      labelled.add(text);
      ctx.font = '11px system-ui, sans-serif'; ctx.textAlign = 'left';
    });
    for (const m of this.markers) {
      ctx.fillStyle = '#b91c1c'; ctx.font = 'bold 12px system-ui, sans-serif';
      ctx.fillText(m.text, Math.min(X(m.x) + 4, W - R - 30), T + 24);
      ctx.font = '11px system-ui, sans-serif';
    }
    const legends = [...this.series.values()].filter((s) => s.legend);
    if (legends.length) {   // top-right corner of the plot, on a white box so curves never hide it
      const width = 26 + Math.max(...legends.map((s) => ctx.measureText(s.legend).width));
      const x0 = W - R - width - 6;
      ctx.fillStyle = 'rgba(255,255,255,0.85)'; ctx.fillRect(x0, T + 2, width, 14 * legends.length + 6);
      legends.forEach((s, i) => {
        ctx.fillStyle = s.color; ctx.fillRect(x0 + 6, T + 10 + 14 * i, 12, 3);
        ctx.fillStyle = '#374151'; ctx.fillText(s.legend, x0 + 22, T + 15 + 14 * i);
      });
    }
  }
}
