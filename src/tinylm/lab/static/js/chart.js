// A small loss chart on a canvas: curves, dashed reference lines with labels, NaN markers.
export class LossChart {
  constructor(canvas, {xLabel = 'iter', yLabel = 'loss (nats)'} = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.xLabel = xLabel; this.yLabel = yLabel;
    this.clear();
  }
  clear() { this.series = new Map(); this.refs = []; this.xmax = 1; this.markers = []; this.request(); }
  setXMax(x) { this.xmax = Math.max(1, x); this.request(); }
  setRefs(refs) { this.refs = refs; this.request(); }
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
  bounds() {
    let lo = Infinity, hi = -Infinity, xmax = this.xmax;
    for (const s of this.series.values()) {
      if (s.ignoreForScale) continue;
      for (const [x, y] of s.points) {
        if (!Number.isFinite(y)) continue;
        lo = Math.min(lo, y); hi = Math.max(hi, y); xmax = Math.max(xmax, x);
      }
    }
    for (const r of this.refs) { lo = Math.min(lo, r.y); hi = Math.max(hi, r.y); }
    if (!Number.isFinite(lo)) { lo = 0; hi = 4; }
    const top = this.refs.length ? Math.max(...this.refs.map((r) => r.y)) : hi;
    hi = Math.min(hi, Math.max(top * 3, top + 1));   // a wild first loss must not flatten the rest
    lo = Math.max(0, lo - 0.2);
    hi = hi + 0.2;
    return {lo, hi, xmax};
  }
  draw() {
    const {canvas, ctx} = this;
    const W = canvas.width, H = canvas.height, L = 48, R = 150, T = 14, B = 30;
    const {lo, hi, xmax} = this.bounds();
    const X = (x) => L + (W - L - R) * x / xmax;
    const Y = (y) => T + (H - T - B) * (1 - (Math.min(Math.max(y, lo), hi) - lo) / (hi - lo));
    ctx.clearRect(0, 0, W, H);
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = '#e5e7eb'; ctx.fillStyle = '#6b7280'; ctx.lineWidth = 1; ctx.setLineDash([]);
    const ystep = (hi - lo) > 6 ? 2 : (hi - lo) > 2.5 ? 0.5 : 0.25;
    for (let y = Math.ceil(lo / ystep) * ystep; y <= hi; y += ystep) {
      ctx.beginPath(); ctx.moveTo(L, Y(y)); ctx.lineTo(W - R, Y(y)); ctx.stroke();
      ctx.fillText(y.toFixed(2), 4, Y(y) + 4);
    }
    const raw = xmax / 6, mag = 10 ** Math.floor(Math.log10(raw));
    const xstep = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    for (let x = 0; x <= xmax; x += xstep) {
      ctx.beginPath(); ctx.moveTo(X(x), T); ctx.lineTo(X(x), H - B); ctx.stroke();
      ctx.fillText(String(x), X(x) - 8, H - B + 14);
    }
    ctx.fillText(this.xLabel, W - R - 24, H - 4);
    for (const r of this.refs) {
      ctx.strokeStyle = r.color || '#9ca3af'; ctx.setLineDash(r.dash || [6, 4]);
      ctx.beginPath(); ctx.moveTo(L, Y(r.y)); ctx.lineTo(W - R, Y(r.y)); ctx.stroke();
      ctx.fillStyle = r.color || '#6b7280';
      ctx.fillText(r.label, W - R + 6, Y(r.y) + 4);
    }
    ctx.setLineDash([]);
    for (const s of this.series.values()) {
      ctx.strokeStyle = s.color || '#2563eb'; ctx.lineWidth = s.width || 1.5; ctx.globalAlpha = s.alpha ?? 1;
      ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      let open = false;
      const stride = Math.max(1, Math.floor(s.points.length / 4000));
      for (let i = 0; i < s.points.length; i += stride) {
        const [x, y] = s.points[i];
        if (!Number.isFinite(y)) { open = false; continue; }
        if (open) ctx.lineTo(X(x), Y(y)); else ctx.moveTo(X(x), Y(y));
        open = true;
      }
      ctx.stroke();
      if (s.dots) {
        ctx.fillStyle = s.color;
        for (const [x, y] of s.points) if (Number.isFinite(y)) { ctx.beginPath(); ctx.arc(X(x), Y(y), 2.5, 0, 7); ctx.fill(); }
      }
      ctx.globalAlpha = 1;
    }
    ctx.setLineDash([]);
    for (const m of this.markers) {
      ctx.fillStyle = '#b91c1c'; ctx.font = 'bold 12px system-ui, sans-serif';
      ctx.fillText(m.text, Math.min(X(m.x), W - R - 30), T + 12);
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
